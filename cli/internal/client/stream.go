package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"time"

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

// Pacing of FollowRollout's and FollowReload's watches after one ended early.
const (
	followFirstWait = 100 * time.Millisecond
	followMaxWait   = 2 * time.Second
	// followAttempts bounds the watches in a row that end in an error before any update:
	// an edge that keeps failing is reported, not retried forever.
	followAttempts = 8
)

// unwrap yields the resource of each message of a watch.
func unwrap[M, T any](watch iter.Seq2[M, error], get func(M) T) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for m, err := range watch {
			var t T
			if err == nil {
				t = get(m)
			}
			if !yield(t, err) {
				return
			}
		}
	}
}

// follow is FollowRollout and FollowReload: it yields what watch streams, the first
// update and then each one that changed (by changed) from the last yielded, until one has
// ended, watching again (with backoff) whenever a watch ends early. It yields the first
// error that watching again would not cure, and stops. noun names the resource in errors.
func follow[T any](ctx context.Context, name, noun string, watch func() iter.Seq2[T, error],
	changed func(last, next T) bool, ended func(T) bool,
) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var (
			zero, last T
			seen       bool
		)
		wait, failures := followFirstWait, 0
		for {
			var (
				watchErr error
				updates  int
			)
			for r, err := range watch() {
				if err != nil {
					watchErr = err
					break
				}
				updates++
				wait, failures = followFirstWait, 0
				if !seen || changed(last, r) {
					last, seen = r, true
					if !yield(r, nil) {
						return
					}
				}
				if ended(r) {
					return
				}
			}
			if err := ctx.Err(); err != nil {
				yield(zero, context.Cause(ctx))
				return
			}
			switch {
			case watchErr != nil:
				failures++
				if !RetryableWatchError(watchErr) || failures >= followAttempts {
					yield(zero, watchErr)
					return
				}
			case updates == 0:
				// A watch always starts with the resource as it is; one that ended without
				// it is an edge in trouble, as much as one that failed.
				failures++
				if failures >= followAttempts {
					yield(zero, fmt.Errorf("watch %s: the edge ended %d watches in a row without sending the %s", name, failures, noun))
					return
				}
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				yield(zero, context.Cause(ctx))
				return
			case <-t.C:
			}
			wait = min(2*wait, followMaxWait)
		}
	}
}
