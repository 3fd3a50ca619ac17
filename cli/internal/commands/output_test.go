package commands_test

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
)

// yamlReloadJSON is a reload as the edge answers it: an int64 is a string in the API's JSON.
const yamlReloadJSON = `{"name": "tenants/acme/apps/sales/reloads/r1", "state": "STATE_SUCCEEDED", "appRevision": "3",
	"tables": [{"name": "orders", "rows": "1000", "fields": ["region", "amount"]}], "peakMemoryBytes": "2048"}`

func TestYAMLOutputIsTheJSONOutputConverted(t *testing.T) {
	t.Parallel()
	f := startFakeEdge(t, map[string]string{
		"GET /v1/tenants/acme/apps/sales/reloads/r1": yamlReloadJSON,
		"GET /v1/regions":                         `{"regions": [{"name": "regions/eu-west", "code": "eu-west", "displayName": "Europe West"}]}`,
		"GET /v1/tenants/acme/apps/sales/reloads": `{}`,
	})
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"one resource, with the API's names and int64s as strings", []string{"reloads", "get", "tenants/acme/apps/sales/reloads/r1"}, `appRevision: "3"
name: tenants/acme/apps/sales/reloads/r1
peakMemoryBytes: "2048"
state: STATE_SUCCEEDED
tables:
- fields:
  - region
  - amount
  name: orders
  rows: "1000"
`},
		{"a list", []string{"regions", "list"}, `regions:
- code: eu-west
  displayName: Europe West
  name: regions/eu-west
`},
		{"an empty list is still a list", []string{"reloads", "list", "tenants/acme/apps/sales"}, "reloads: []\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := f.ok(t, "yaml", tc.args...)
			if got != tc.want {
				t.Errorf("yaml = %q\nwant %q", got, tc.want)
			}
			// The same document as --output json, so a script may switch between them.
			j, err := yaml.YAMLToJSON([]byte(got))
			if err != nil {
				t.Fatalf("not YAML: %v", err)
			}
			if !jsonEqual(t, string(j), f.ok(t, "json", tc.args...)) {
				t.Errorf("yaml %s differs from json %s", j, f.ok(t, "json", tc.args...))
			}
		})
	}
	t.Run("reads back as the resource", func(t *testing.T) {
		j, err := yaml.YAMLToJSON([]byte(f.ok(t, "yaml", "reloads", "get", "tenants/acme/apps/sales/reloads/r1")))
		if err != nil {
			t.Fatal(err)
		}
		r := &contentv1.Reload{}
		if err := protojson.Unmarshal(j, r); err != nil || r.GetTables()[0].GetRows() != 1000 {
			t.Errorf("read back %v (%v), want 1000 rows of orders", r, err)
		}
	})
}

func TestYAMLOutputComesFromTheEnvironmentToo(t *testing.T) {
	f := startFakeEdge(t, map[string]string{"GET /v1/regions": `{"regions": [{"code": "eu-west"}]}`})
	t.Setenv("ORIEL_OUTPUT", "yaml")
	r := run("regions", "list", "--addr", f.url, "--api-key", "k")
	if r.code != 0 || r.stdout != "regions:\n- code: eu-west\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// jsonEqual compares two JSON documents by their values.
func jsonEqual(t *testing.T, a, b string) bool {
	t.Helper()
	var x, y any
	if err := yaml.Unmarshal([]byte(a), &x); err != nil {
		t.Fatalf("%v: %s", err, a)
	}
	if err := yaml.Unmarshal([]byte(b), &y); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	xs, _ := yaml.Marshal(x)
	ys, _ := yaml.Marshal(y)
	return strings.TrimSpace(string(xs)) == strings.TrimSpace(string(ys))
}
