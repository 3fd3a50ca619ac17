package tunnel_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/oriel-dev/oriel/services/datagateway/internal/agent"
)

// testPKI is a throwaway certificate authority and a server certificate it signed for
// 127.0.0.1, ::1 and localhost, made fresh for each test and kept in its temp directory.
type testPKI struct {
	caFile string // PEM of the CA certificate
	server tls.Certificate
}

func newTestPKI(t testing.TB) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "oriel test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}

	p := testPKI{caFile: filepath.Join(dir, "ca.pem")}
	certFile, keyFile := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	for path, block := range map[string]*pem.Block{
		p.caFile: {Type: "CERTIFICATE", Bytes: caDER},
		certFile: {Type: "CERTIFICATE", Bytes: der},
		keyFile:  {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if p.server, err = tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	return p
}

// serverCreds are the TLS credentials of a hub serving p's server certificate.
func (p testPKI) serverCreds() credentials.TransportCredentials {
	return credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{p.server}, MinVersion: tls.VersionTLS12})
}

// streamCounter is a stream interceptor counting the streams that reach the server: a
// client refused by the TLS handshake never gets that far.
type streamCounter struct{ n atomic.Int64 }

func (c *streamCounter) intercept(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	c.n.Add(1)
	return handler(srv, ss)
}

// withTLS makes an agent dial with TLS, trusting caFile (the system's roots when empty)
// and checking the certificate against serverName (the --server host when empty).
func withTLS(caFile, serverName string) func(*agent.Config) {
	return func(c *agent.Config) {
		c.Insecure = false
		c.TLSCAFile = caFile
		c.TLSServerName = serverName
	}
}

func TestAnAgentConnectsOverTLSTrustingItsCAFile(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	logs := newLogSink(t)
	agents := newMemAgents()
	hub := startHub(t, agents, logs, hubOptions{creds: pki.serverCreds()})
	src := pgSource(t, 5_000)

	for _, tc := range []struct{ name, server, serverName string }{
		{"ip", hub.addr, ""},                          // checked against the IP SAN 127.0.0.1
		{"server-name", hub.addr, "localhost"},        // checked against the DNS SAN
		{"localhost", localhostAddr(t, hub.addr), ""}, // the --server host is the name
	} {
		t.Run(tc.name, func(t *testing.T) {
			cred, name := agents.credential("acme", "tls-"+tc.name, "a-"+tc.name)
			a := startAgent(t, logs, agentOptions{server: tc.server, credential: cred, name: name,
				configure: withTLS(pki.caFile, tc.serverName)})
			waitFor(t, "the agent connected over TLS", func() bool { return agents.connected(name) })

			var r result
			served, err := hub.Query(t.Context(), "acme", "tls-"+tc.name, src, "SELECT id, name, amount FROM t ORDER BY id", nil, limits(1000), r.send)
			if err != nil {
				t.Fatal(err)
			}
			if served != name {
				t.Fatalf("served by %q, want %q", served, name)
			}
			r.checkFull(t, 5_000)
			a.stop()
			if a.err != nil {
				t.Fatalf("agent.Run = %v, want nil after cancel", a.err)
			}
		})
	}
}

// localhostAddr is addr (127.0.0.1:port) with the host written as localhost.
func localhostAddr(t testing.TB, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("localhost", port)
}

func TestAnAgentRefusesATLSDatagatewayItCannotVerify(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	other := newTestPKI(t) // a CA that did not sign the hub's certificate

	for _, tc := range []struct {
		name      string
		configure func(*agent.Config)
		want      []string // in the agent's log
	}{
		{"system-roots", withTLS("", ""), []string{"certificate signed by unknown authority"}},
		{"another-ca", withTLS(other.caFile, ""), []string{"certificate signed by unknown authority"}},
		{"server-name-mismatch", withTLS(pki.caFile, "datagateway.example.com"), []string{"certificate is valid for", "not datagateway.example.com"}},
		{"insecure", nil, []string{"code = Unavailable", "connection error"}}, // startAgent's default: plaintext
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			logs := newLogSink(t)
			agents := newMemAgents()
			var streams streamCounter
			hub := startHub(t, agents, logs, hubOptions{creds: pki.serverCreds(), interceptor: streams.intercept})
			cred, name := agents.credential("acme", "default", "a")
			agentLogs := newLogSink(t)
			a := startAgent(t, agentLogs, agentOptions{server: hub.addr, credential: cred, name: name, configure: tc.configure})
			if tc.configure == nil && !a.cfg.Insecure {
				t.Fatal("the insecure case must dial without TLS")
			}

			// The agent keeps retrying (a certificate may be fixed on the server); wait
			// until it has failed a few times, saying why.
			waitFor(t, "the agent to report the refused handshake", func() bool {
				out := agentLogs.String()
				for _, w := range tc.want {
					if !strings.Contains(out, w) {
						return false
					}
				}
				return strings.Count(out, "could not open a stream to the datagateway") >= 3
			})
			if n := streams.n.Load(); n != 0 {
				t.Fatalf("%d streams reached the hub, want none", n)
			}
			if st := agents.status(name); st.Connected || !st.ConnectTime.IsZero() {
				t.Fatalf("the hub recorded status %+v for an agent it should never have seen", st)
			}
			select {
			case <-a.done:
				t.Fatalf("agent.Run returned %v; want it to keep retrying", a.err)
			default:
			}
			a.stop()
			if a.err != nil {
				t.Fatalf("agent.Run = %v, want nil after cancel", a.err)
			}
			checkNoSecrets(t, agentLogs, cred)
		})
	}
}

// An agent told to dial without TLS is refused by a TLS hub, and vice versa: neither side
// falls back to the other.
func TestATLSAgentIsRefusedByAPlaintextHub(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	logs := newLogSink(t)
	agents := newMemAgents()
	var streams streamCounter
	hub := startHub(t, agents, logs, hubOptions{interceptor: streams.intercept}) // plaintext
	cred, name := agents.credential("acme", "default", "a")
	agentLogs := newLogSink(t)
	a := startAgent(t, agentLogs, agentOptions{server: hub.addr, credential: cred, name: name, configure: withTLS(pki.caFile, "")})
	waitFor(t, "the agent to report the failed handshake", func() bool {
		return strings.Count(agentLogs.String(), "could not open a stream to the datagateway") >= 3
	})
	if n := streams.n.Load(); n != 0 {
		t.Fatalf("%d streams reached the hub, want none", n)
	}
	if agents.connected(name) {
		t.Fatal("a TLS agent connected to a plaintext hub")
	}
	a.stop()
}

func TestConfigRejectsTLSSettingsWithInsecure(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	for _, cfg := range []agent.Config{
		{Server: "127.0.0.1:1", Insecure: true, TLSCAFile: pki.caFile},
		{Server: "127.0.0.1:1", Insecure: true, TLSServerName: "localhost"},
	} {
		err := agent.Run(t.Context(), cfg)
		if err == nil || !strings.Contains(err.Error(), "--insecure cannot be combined with TLS settings") {
			t.Fatalf("Run(%+v) = %v, want the combination refused", cfg, err)
		}
	}
	// A CA file that holds no certificate is refused before dialling.
	bad := filepath.Join(t.TempDir(), "empty.pem")
	if err := os.WriteFile(bad, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := agent.Run(context.Background(), agent.Config{Server: "127.0.0.1:1", TLSCAFile: bad})
	if err == nil || !strings.Contains(err.Error(), "holds no PEM certificate") {
		t.Fatalf("Run with a CA file holding no certificate = %v", err)
	}
}
