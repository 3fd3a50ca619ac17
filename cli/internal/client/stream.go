package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// stream calls a server-streaming method of the edge and yields each message. The edge
// serves a stream as one HTTP response of newline-delimited JSON objects, `{"result": …}`
// for each message and `{"error": …}` for a failure, which is yielded as an *APIError
// (a failure before the first message is the response itself, with its HTTP status).
// Breaking out of the loop closes the connection, which cancels the call at the service.
func stream[T proto.Message](ctx context.Context, c *Client, method, path string, body proto.Message, newMsg func() T) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		hreq, err := c.newRequest(ctx, method, path, nil, body)
		if err != nil {
			yield(zero, err)
			return
		}
		resp, err := c.http.Do(hreq)
		if err != nil {
			yield(zero, err)
			return
		}
		defer resp.Body.Close()
		requestID := resp.Header.Get("X-Request-Id")
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
			if err != nil {
				yield(zero, fmt.Errorf("%s %s: read response: %w", method, hreq.URL.Redacted(), err))
				return
			}
			yield(zero, parseError(resp.StatusCode, requestID, body))
			return
		}
		lines := bufio.NewScanner(resp.Body)
		lines.Buffer(make([]byte, 0, 64<<10), maxResponseBytes)
		for lines.Scan() {
			line := bytes.TrimSpace(lines.Bytes())
			if len(line) == 0 {
				continue
			}
			msg := newMsg()
			if err := decodeStreamChunk(line, requestID, msg); err != nil {
				yield(zero, err)
				return
			}
			if !yield(msg, nil) {
				return
			}
		}
		if err := lines.Err(); err != nil {
			if ctxErr := context.Cause(ctx); ctxErr != nil {
				err = ctxErr
			}
			yield(zero, fmt.Errorf("%s %s: read stream: %w", method, hreq.URL.Redacted(), err))
		}
	}
}

// decodeStreamChunk reads one object of a stream into out.
func decodeStreamChunk(line []byte, requestID string, out proto.Message) error {
	var chunk struct {
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(line, &chunk); err != nil {
		return fmt.Errorf("decode stream: %w; line starts: %s", err, truncate(line))
	}
	switch {
	case chunk.Error != nil:
		e := parseError(0, requestID, line)
		// The HTTP status went out with the first message; this is what it would have been.
		e.HTTPStatus = httpStatusOf(e.Status)
		return e
	case chunk.Result == nil:
		return fmt.Errorf("decode stream: an object with neither result nor error: %s", truncate(line))
	}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(chunk.Result, out); err != nil {
		return fmt.Errorf("decode stream: %w; line starts: %s", err, truncate(line))
	}
	return nil
}
