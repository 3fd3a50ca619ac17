package devstack_test

import (
	"context"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/oriel-dev/oriel/cli/internal/client"
	"github.com/oriel-dev/oriel/cli/internal/devstack"
	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
)

// The datagateway's key-encryption key is made once and kept beside the data, so that
// credentials stored before a restart still open after it.
func TestDevStackKeepsTheDatagatewayKeySoCredentialsSurviveRestarts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	start := func() *devstack.Stack {
		st, err := devstack.Start(context.Background(), devstack.Config{DataDir: dir}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("start stack: %v", err)
		}
		return st
	}
	keyFile := filepath.Join(dir, "datagateway.keys")

	st := start()
	if st.KeyEncryptionKeyFile != keyFile || st.DatagatewayGRPCAddr == "" {
		t.Fatalf("key file %q, datagateway at %q", st.KeyEncryptionKeyFile, st.DatagatewayGRPCAddr)
	}
	info, err := os.Stat(keyFile)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v, mode %v; want it, 0600", keyFile, err, info.Mode())
	}
	key, err := os.ReadFile(keyFile)
	if err != nil || !strings.HasPrefix(string(key), "dev1:") {
		t.Fatalf("%s holds %d bytes (%v), want dev1:<key>", keyFile, len(key), err)
	}

	u, err := url.Parse(testkit.PostgresDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	c := client.New(st.GatewayURL, st.AdminKey, nil)
	if _, err := c.CreateConnection(t.Context(), &datagatewayv1.CreateConnectionRequest{
		Parent: "tenants/acme", ConnectionId: "warehouse",
		Connection: &datagatewayv1.Connection{
			DisplayName: "Warehouse",
			Postgres: &datagatewayv1.PostgresParams{Host: u.Hostname(), Port: int32(port), Database: strings.TrimPrefix(u.Path, "/"),
				User: u.User.Username(), SslMode: datagatewayv1.PostgresParams_SSL_MODE_DISABLE},
			// The test server trusts local connections, so any password works: what is
			// tested is that the stored one still decrypts.
			Credentials: &datagatewayv1.Credentials{Password: "kept-across-restarts"},
		},
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.Stop(); err != nil {
		t.Fatal(err)
	}

	st = start()
	t.Cleanup(func() {
		if err := st.Stop(); err != nil {
			t.Errorf("stop stack: %v", err)
		}
	})
	again, err := os.ReadFile(keyFile)
	if err != nil || string(again) != string(key) {
		t.Fatalf("the key changed across a restart (%v)", err)
	}
	c = client.New(st.GatewayURL, st.AdminKey, nil)
	resp, err := c.TestConnection(t.Context(), &datagatewayv1.TestConnectionRequest{Name: "tenants/acme/connections/warehouse"})
	if err != nil || !resp.GetOk() {
		t.Fatalf("TestConnection after a restart = %v, %v; want ok (its credentials decrypted)", resp, err)
	}
}
