package commands

import (
	"bytes"
	"testing"

	"sigs.k8s.io/yaml"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
)

func TestQueryRowsInYAMLAreAListThatStreams(t *testing.T) {
	columns := []*datagatewayv1.Column{
		{Name: "region", Type: datagatewayv1.Column_TYPE_STRING},
		{Name: "n", Type: datagatewayv1.Column_TYPE_INT64},
	}
	batch := func(region string, n int64) *datagatewayv1.RowBatch {
		return &datagatewayv1.RowBatch{RowCount: 1, Columns: []*datagatewayv1.ColumnValues{
			{StringValues: []string{region}}, {Int64Values: []int64{n}},
		}}
	}
	var out bytes.Buffer
	w := newRowWriter(&out, "yaml")
	if err := w.header(columns); err != nil {
		t.Fatal(err)
	}
	for _, b := range []*datagatewayv1.RowBatch{batch("emea", 1), batch("it's: \"quoted\"", 2)} {
		if err := w.batch(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.flush(); err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := yaml.Unmarshal(out.Bytes(), &rows); err != nil {
		t.Fatalf("not YAML: %v\n%s", err, out.String())
	}
	if len(rows) != 2 || rows[0]["region"] != "emea" || rows[1]["region"] != "it's: \"quoted\"" || rows[1]["n"] != float64(2) {
		t.Errorf("rows = %v from\n%s", rows, out.String())
	}

	out.Reset()
	w = newRowWriter(&out, "yaml")
	if err := w.header(columns); err != nil {
		t.Fatal(err)
	}
	if err := w.flush(); err != nil {
		t.Fatal(err)
	}
	if out.String() != "[]\n" {
		t.Errorf("no rows = %q, want an empty list", out.String())
	}
}

func TestReplicationWatchInYAMLIsADocumentPerChange(t *testing.T) {
	var out bytes.Buffer
	s := &Session{Output: outputYAML, Stdout: &out}
	for _, state := range []datagatewayv1.Replication_State{datagatewayv1.Replication_STATE_SNAPSHOTTING, datagatewayv1.Replication_STATE_STREAMING} {
		if err := s.showReplication(&datagatewayv1.Replication{Name: "tenants/acme/replications/orders", State: state}); err != nil {
			t.Fatal(err)
		}
	}
	want := "---\nname: tenants/acme/replications/orders\nstate: STATE_SNAPSHOTTING\n" +
		"---\nname: tenants/acme/replications/orders\nstate: STATE_STREAMING\n"
	if out.String() != want {
		t.Errorf("output = %q\nwant %q", out.String(), want)
	}
}
