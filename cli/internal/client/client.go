// Package client is a small REST client for Oriel's edge: one method per RPC, taking and
// returning the generated protobuf types, speaking the edge's protojson over net/http.
// It exists so that the CLI (and Go programs that would rather not dial gRPC) get the
// edge's exact contract, including its structured errors, as ordinary Go values.
package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
)

// UserAgent identifies the CLI in the edge's access logs.
const UserAgent = "oriel-cli"

// maxResponseBytes bounds what one response may make us buffer; a full page of 1000
// tenants is far below it.
const maxResponseBytes = 64 << 20

// ErrInvalidName is matched (errors.Is) by the error returned for a resource name the
// client will not put into a URL; the error's text names the kind of resource and the
// shape it wants.
var ErrInvalidName = errors.New("invalid resource name")

// Client calls the REST edge. It is safe for concurrent use.
type Client struct {
	base    *url.URL
	baseErr error
	apiKey  string
	// embedOrigin, when set, is sent as EmbedOriginHeader on every call.
	embedOrigin string
	http        *http.Client
}

// EmbedOriginHeader names the web origin a call is made for. An embed token bound to an
// origin (ExchangeTokenRequest.allowed_origin) is accepted only from that origin; a caller
// that is not a browser, so sends no Origin, names it here.
const EmbedOriginHeader = "Oriel-Embed-Origin"

// WithEmbedOrigin returns a copy of c that names origin on every call (see
// EmbedOriginHeader); "" names none.
func (c *Client) WithEmbedOrigin(origin string) *Client {
	cp := *c
	cp.embedOrigin = origin
	return &cp
}

// New returns a client for the edge at baseURL (e.g. http://localhost:8080, optionally
// with a path prefix) that authenticates with apiKey when it is not empty. A nil
// httpClient means http.DefaultClient; deadlines come from each call's context. A bad
// baseURL is reported by every call rather than here, so that New cannot fail.
func New(baseURL, apiKey string, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	c := &Client{apiKey: apiKey, http: httpClient}
	c.base, c.baseErr = parseBaseURL(baseURL)
	return c
}

func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	switch {
	case err != nil:
		return nil, fmt.Errorf("invalid edge address %q: %w", raw, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("invalid edge address %q: want http:// or https://, e.g. http://localhost:8080", raw)
	case u.Host == "":
		return nil, fmt.Errorf("invalid edge address %q: no host", raw)
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("invalid edge address %q: no query or fragment allowed", raw)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// ListRegions lists the regions tenants can be created in.
func (c *Client) ListRegions(ctx context.Context, _ *tenantv1.ListRegionsRequest) (*tenantv1.ListRegionsResponse, error) {
	out := &tenantv1.ListRegionsResponse{}
	return out, c.do(ctx, http.MethodGet, "/v1/regions", nil, nil, out)
}

// CreateTenant creates a tenant. Send a request_id (a UUID) to make retries safe: the
// edge answers a retry with the tenant the first call created.
func (c *Client) CreateTenant(ctx context.Context, req *tenantv1.CreateTenantRequest) (*tenantv1.Tenant, error) {
	q := url.Values{}
	setIf(q, "tenantId", req.GetTenantId())
	setIf(q, "requestId", req.GetRequestId())
	body := req.GetTenant()
	if body == nil {
		body = &tenantv1.Tenant{}
	}
	out := &tenantv1.Tenant{}
	return out, c.do(ctx, http.MethodPost, "/v1/tenants", q, body, out)
}

// GetTenant gets a tenant by name, `tenants/{tenant}`.
func (c *Client) GetTenant(ctx context.Context, req *tenantv1.GetTenantRequest) (*tenantv1.Tenant, error) {
	p, err := tenantPath(req.GetName(), false)
	if err != nil {
		return nil, err
	}
	out := &tenantv1.Tenant{}
	return out, c.do(ctx, http.MethodGet, p, nil, nil, out)
}

// ListTenants returns one page of tenants; see AllTenants to follow every page.
func (c *Client) ListTenants(ctx context.Context, req *tenantv1.ListTenantsRequest) (*tenantv1.ListTenantsResponse, error) {
	q := url.Values{}
	setIf(q, "filter", req.GetFilter())
	setIf(q, "pageToken", req.GetPageToken())
	if req.GetPageSize() != 0 {
		q.Set("pageSize", strconv.Itoa(int(req.GetPageSize())))
	}
	out := &tenantv1.ListTenantsResponse{}
	return out, c.do(ctx, http.MethodGet, "/v1/tenants", q, nil, out)
}

// AllTenants yields every tenant matching req's filter, fetching pages of req's page size
// as it goes, starting at req's page token. It stops at the first error, which it yields.
func (c *Client) AllTenants(ctx context.Context, req *tenantv1.ListTenantsRequest) iter.Seq2[*tenantv1.Tenant, error] {
	return func(yield func(*tenantv1.Tenant, error) bool) {
		page := proto.Clone(req).(*tenantv1.ListTenantsRequest)
		if req == nil {
			page = &tenantv1.ListTenantsRequest{}
		}
		for {
			resp, err := c.ListTenants(ctx, page)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, t := range resp.GetTenants() {
				if !yield(t, nil) {
					return
				}
			}
			if resp.GetNextPageToken() == "" {
				return
			}
			page.PageToken = resp.GetNextPageToken()
		}
	}
}

// UpdateTenant changes the fields named in req's update_mask (proto field names such as
// `display_name` or `settings.theme.primary_color`); with an empty mask, the edge updates
// the fields present in the body. Set the tenant's etag to update only if nobody changed
// it since it was read.
func (c *Client) UpdateTenant(ctx context.Context, req *tenantv1.UpdateTenantRequest) (*tenantv1.Tenant, error) {
	p, err := tenantPath(req.GetTenant().GetName(), false)
	if err != nil {
		return nil, err
	}
	// The path carries the name; the body carries only what changes (and the etag).
	body := proto.Clone(req.GetTenant()).(*tenantv1.Tenant)
	body.Name = ""
	q := url.Values{}
	setIf(q, "updateMask", strings.Join(req.GetUpdateMask().GetPaths(), ","))
	out := &tenantv1.Tenant{}
	return out, c.do(ctx, http.MethodPatch, p, q, body, out)
}

// DeactivateTenant deactivates an active tenant; confirm_hostname must repeat its
// primary hostname.
func (c *Client) DeactivateTenant(ctx context.Context, req *tenantv1.DeactivateTenantRequest) (*tenantv1.Tenant, error) {
	p, err := tenantPath(req.GetName(), false)
	if err != nil {
		return nil, err
	}
	body := proto.Clone(req).(*tenantv1.DeactivateTenantRequest)
	body.Name = ""
	out := &tenantv1.Tenant{}
	return out, c.do(ctx, http.MethodPost, p+":deactivate", nil, body, out)
}

// ReactivateTenant brings back a deactivated tenant whose purge time has not passed.
func (c *Client) ReactivateTenant(ctx context.Context, req *tenantv1.ReactivateTenantRequest) (*tenantv1.Tenant, error) {
	p, err := tenantPath(req.GetName(), false)
	if err != nil {
		return nil, err
	}
	body := proto.Clone(req).(*tenantv1.ReactivateTenantRequest)
	body.Name = ""
	out := &tenantv1.Tenant{}
	return out, c.do(ctx, http.MethodPost, p+":reactivate", nil, body, out)
}

// ListTenantEvents returns one page of a tenant's events, oldest first; the parent
// `tenants/-` lists every tenant's.
func (c *Client) ListTenantEvents(ctx context.Context, req *tenantv1.ListTenantEventsRequest) (*tenantv1.ListTenantEventsResponse, error) {
	p, err := tenantPath(req.GetParent(), true)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	setIf(q, "pageToken", req.GetPageToken())
	if req.GetPageSize() != 0 {
		q.Set("pageSize", strconv.Itoa(int(req.GetPageSize())))
	}
	out := &tenantv1.ListTenantEventsResponse{}
	return out, c.do(ctx, http.MethodGet, p+"/events", q, nil, out)
}

// AllTenantEvents yields every event of req's parent, oldest first, fetching pages as it
// goes. It stops at the first error, which it yields.
func (c *Client) AllTenantEvents(ctx context.Context, req *tenantv1.ListTenantEventsRequest) iter.Seq2[*tenantv1.TenantEvent, error] {
	return func(yield func(*tenantv1.TenantEvent, error) bool) {
		page := proto.Clone(req).(*tenantv1.ListTenantEventsRequest)
		if req == nil {
			page = &tenantv1.ListTenantEventsRequest{}
		}
		for {
			resp, err := c.ListTenantEvents(ctx, page)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, e := range resp.GetEvents() {
				if !yield(e, nil) {
					return
				}
			}
			if resp.GetNextPageToken() == "" {
				return
			}
			page.PageToken = resp.GetNextPageToken()
		}
	}
}

// tenantPath maps `tenants/{id}` to its REST path. wildcard allows `tenants/-`, which
// only collection-style methods (ListTenantEvents) accept.
func tenantPath(name string, wildcard bool) (string, error) {
	if wildcard && name == "tenants/-" {
		return "/v1/tenants/-", nil
	}
	if name == "tenants/-" {
		return "", &nameError{fmt.Sprintf("invalid tenant name %q: tenants/- (every tenant) is accepted only when listing events", name)}
	}
	return tenantNames.path(name)
}

func setIf(q url.Values, key, value string) {
	if value != "" {
		q.Set(key, value)
	}
}

// do sends one request and decodes a 2xx body into out, or returns an *APIError.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out proto.Message) error {
	req, err := c.newRequest(ctx, method, path, query, body)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err // *url.Error: method, URL (no credentials) and cause
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return fmt.Errorf("%s %s: read response: %w", method, req.URL.Redacted(), err)
	}
	if len(respBody) > maxResponseBytes {
		return fmt.Errorf("%s %s: response larger than %d bytes", method, req.URL.Redacted(), maxResponseBytes)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return parseError(resp.StatusCode, resp.Header.Get("X-Request-Id"), respBody)
	}
	// Unknown fields are a newer edge's additions, not an error of ours.
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(respBody, out); err != nil {
		return fmt.Errorf("%s %s: decode response (HTTP %d): %w; body starts: %s", method, req.URL.Redacted(), resp.StatusCode, err, truncate(respBody))
	}
	return nil
}

// newRequest builds a call of the edge: body (if any) as protojson, the client's
// credential, and the headers every call carries.
func (c *Client) newRequest(ctx context.Context, method, path string, query url.Values, body proto.Message) (*http.Request, error) {
	if c.baseErr != nil {
		return nil, c.baseErr
	}
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()

	var reqBody io.Reader
	if body != nil {
		b, err := protojson.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		reqBody = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), reqBody)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	if c.embedOrigin != "" {
		req.Header.Set(EmbedOriginHeader, c.embedOrigin)
	}
	return req, nil
}
