package devstack_test

import (
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/oriel-dev/oriel/platform/testkit"
)

// restClient calls the edge of a running stack.
type restClient struct {
	t    *testing.T
	base string
	key  string
}

type restResponse struct {
	status int
	body   []byte
}

func (c restClient) do(method, path, body string) restResponse {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return restResponse{status: resp.StatusCode, body: b}
}

// json decodes the response into v, failing the test if the status is not want.
func (r restResponse) json(t *testing.T, want int, v any) {
	t.Helper()
	if r.status != want {
		t.Fatalf("HTTP %d, want %d: %s", r.status, want, r.body)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, r.body)
	}
}

// wantError checks an error response: HTTP status, gRPC status, reason and the fields the
// BadRequest names (nil: not checked).
func (r restResponse) wantError(t *testing.T, httpStatus int, grpcStatus, reason string, fields []string) {
	t.Helper()
	var e struct {
		Error struct {
			Code    int    `json:"code"`
			Status  string `json:"status"`
			Message string `json:"message"`
			Details []struct {
				Reason          string `json:"reason"`
				FieldViolations []struct {
					Field string `json:"field"`
				} `json:"fieldViolations"`
			} `json:"details"`
		} `json:"error"`
	}
	r.json(t, httpStatus, &e)
	var reasons, got []string
	for _, d := range e.Error.Details {
		if d.Reason != "" {
			reasons = append(reasons, d.Reason)
		}
		for _, v := range d.FieldViolations {
			got = append(got, v.Field)
		}
	}
	if e.Error.Code != httpStatus || e.Error.Status != grpcStatus || e.Error.Message == "" || !slices.Equal(reasons, []string{reason}) {
		t.Fatalf("error %s, want %d %s with reason %s", r.body, httpStatus, grpcStatus, reason)
	}
	if fields != nil && !slices.Equal(got, fields) {
		t.Fatalf("field violations %v, want %v: %s", got, fields, r.body)
	}
}

type tenantJSON struct {
	Name        string   `json:"name"`
	DisplayName string   `json:"displayName"`
	Hostnames   []string `json:"hostnames"`
	State       string   `json:"state"`
	Etag        string   `json:"etag"`
	CreateTime  string   `json:"createTime"`
	PurgeTime   string   `json:"purgeTime"`
}

func tenantBody(id, displayName string) string {
	return `{"displayName":"` + displayName + `","hostnames":["` + id + `.analytics.example.com"],"region":"eu-west"}`
}

// TestRESTEdgeEndToEnd walks the tenant API through the edge of the whole stack on
// PostgreSQL, as an ISV backend would, including every refusal the foundation promises.
func TestRESTEdgeEndToEnd(t *testing.T) {
	t.Parallel()
	stack := startStack(t, false)
	api := restClient{t: t, base: stack.GatewayURL, key: stack.AdminKey}
	id := testkit.UniqueID("rest")
	name := "tenants/" + id
	hostname := id + ".analytics.example.com"
	requestID := uuid.NewString()

	var created, retried tenantJSON
	api.do("POST", "/v1/tenants?tenantId="+id+"&requestId="+requestID, tenantBody(id, "Acme")).json(t, 200, &created)
	api.do("POST", "/v1/tenants?tenantId="+id+"&requestId="+requestID, tenantBody(id, "Acme")).json(t, 200, &retried)
	if created.Name != name || created.State != "STATE_ACTIVE" || !reflect.DeepEqual(retried, created) {
		t.Fatalf("create %+v, retry %+v: want one ACTIVE %s", created, retried, name)
	}

	for _, tc := range []struct {
		name               string
		client             restClient
		method, path, body string
		httpStatus         int
		grpcStatus, reason string
		fields             []string
	}{
		{"no credential", restClient{t: t, base: stack.GatewayURL}, "GET", "/v1/tenants", "", 401, "UNAUTHENTICATED", "CREDENTIAL_MISSING", nil},
		{"wrong credential", restClient{t: t, base: stack.GatewayURL, key: "oriel_sk_" + strings.Repeat("x", 52)}, "GET", "/v1/tenants", "", 401, "UNAUTHENTICATED", "CREDENTIAL_INVALID", nil},
		{"empty display name", api, "POST", "/v1/tenants", tenantBody(testkit.UniqueID("x"), ""), 400, "INVALID_ARGUMENT", "INVALID_REQUEST", []string{"tenant.display_name"}},
		{"hostname ab", api, "POST", "/v1/tenants", `{"displayName":"X","hostnames":["ab"],"region":"eu-west"}`, 400, "INVALID_ARGUMENT", "INVALID_REQUEST", []string{"tenant.hostnames[0]"}},
		{"unknown region", api, "POST", "/v1/tenants", `{"displayName":"X","hostnames":["xyz.example.com"],"region":"mars"}`, 400, "INVALID_ARGUMENT", "UNKNOWN_REGION", []string{"tenant.region"}},
		{"purge_after_days 5", api, "POST", "/v1/" + name + ":deactivate", `{"confirmHostname":"` + hostname + `","purgeAfterDays":5}`, 400, "INVALID_ARGUMENT", "INVALID_REQUEST", []string{"purge_after_days"}},
		{"garbage page token", api, "GET", "/v1/tenants?pageToken=garbage", "", 400, "INVALID_ARGUMENT", "INVALID_PAGE_TOKEN", []string{"page_token"}},
		{"stale etag", api, "PATCH", "/v1/" + name, `{"displayName":"Stale","etag":"not-the-etag"}`, 409, "ABORTED", "ETAG_MISMATCH", nil},
		{"wrong confirm_hostname", api, "POST", "/v1/" + name + ":deactivate", `{"confirmHostname":"other.example.com"}`, 400, "FAILED_PRECONDITION", "CONFIRMATION_MISMATCH", nil},
		{"request id reused with another body", api, "POST", "/v1/tenants?tenantId=" + id + "&requestId=" + requestID, tenantBody(id, "Someone else"), 400, "INVALID_ARGUMENT", "REQUEST_ID_CONFLICT", nil},
		{"a second tenant with the id", api, "POST", "/v1/tenants?tenantId=" + id, tenantBody(testkit.UniqueID("y"), "Dup"), 409, "ALREADY_EXISTS", "RESOURCE_ALREADY_EXISTS", nil},
		{"a missing tenant", api, "GET", "/v1/tenants/nobody-here", "", 404, "NOT_FOUND", "RESOURCE_NOT_FOUND", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.client.t = t
			tc.client.do(tc.method, tc.path, tc.body).wantError(t, tc.httpStatus, tc.grpcStatus, tc.reason, tc.fields)
		})
	}

	// The happy path after the refusals: nothing above changed the tenant.
	var got, patched, off, on tenantJSON
	api.do("GET", "/v1/"+name, "").json(t, 200, &got)
	if !reflect.DeepEqual(got, created) {
		t.Fatalf("refused calls changed the tenant: %+v → %+v", created, got)
	}
	api.do("PATCH", "/v1/"+name+"?updateMask=displayName", `{"displayName":"Acme Corp","etag":"`+got.Etag+`","hostnames":["ignored-not-in-mask.example.com"]}`).json(t, 200, &patched)
	if patched.DisplayName != "Acme Corp" || !slices.Equal(patched.Hostnames, []string{hostname}) || patched.Etag == got.Etag {
		t.Fatalf("patched %+v", patched)
	}
	api.do("POST", "/v1/"+name+":deactivate", `{"confirmHostname":"`+hostname+`","etag":"`+patched.Etag+`"}`).json(t, 200, &off)
	if off.State != "STATE_DEACTIVATED" || off.PurgeTime == "" {
		t.Fatalf("deactivated %+v", off)
	}
	api.do("POST", "/v1/"+name+":reactivate", `{}`).json(t, 200, &on)
	if on.State != "STATE_ACTIVE" || on.PurgeTime != "" {
		t.Fatalf("reactivated %+v", on)
	}
	var events struct {
		Events []struct {
			Type string `json:"type"`
		} `json:"events"`
	}
	api.do("GET", "/v1/"+name+"/events", "").json(t, 200, &events)
	var types []string
	for _, e := range events.Events {
		types = append(types, e.Type)
	}
	want := []string{"dev.oriel.tenant.created", "dev.oriel.tenant.updated", "dev.oriel.tenant.deactivated", "dev.oriel.tenant.reactivated"}
	if !slices.Equal(types, want) {
		t.Fatalf("events %v, want %v", types, want)
	}
}
