// Package agent is oriel-agent: it runs in the customer's network, dials out to the
// datagateway, holds one stream and runs the queries sent down it against sources it
// reaches, streaming rows back within the credit the datagateway grants. It also opens
// TCP connections to sources the datagateway asks for (tunnels) and carries their bytes
// on the stream, within a window each way.
package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/cenkalti/backoff/v5"
	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/services/datagateway/internal/tunnel"
)

// Config configures the agent.
type Config struct {
	// Server is the datagateway's gRPC address, host:port.
	Server string
	// CredentialFile holds the agent's name and credential, written (mode 0600) when the
	// agent enrolls and read on every later start. DefaultCredentialFile when empty.
	CredentialFile string
	// EnrollmentToken is spent only when CredentialFile does not exist; after enrolling it
	// is never needed again.
	EnrollmentToken string
	// Insecure dials without TLS: for development and tests only.
	Insecure bool
	// TLSCAFile is a PEM file of the authorities that sign the datagateway's certificate;
	// the system's roots when empty.
	TLSCAFile string
	// TLSServerName overrides the name the datagateway's certificate is checked against.
	TLSServerName string
	// DevMode lets http sources use plain http and private addresses (source.Options).
	DevMode bool
	// Version and Hostname are reported to the datagateway; "dev" and the host's name when
	// empty.
	Version, Hostname string
	// Log receives the agent's log; discarded when nil. Credentials are never logged.
	Log *slog.Logger
	// MaxConcurrentQueries bounds the queries the agent runs at once; more are refused with
	// UNAVAILABLE so the datagateway's caller can retry on another agent.
	// DefaultMaxConcurrentQueries when zero.
	MaxConcurrentQueries int
	// BackoffMin and BackoffMax bound the jittered exponential wait between reconnects;
	// DefaultBackoffMin and DefaultBackoffMax when zero.
	BackoffMin, BackoffMax time.Duration
}

// Defaults of Config.
const (
	DefaultCredentialFile       = "oriel-agent.credential"
	DefaultMaxConcurrentQueries = 16
	DefaultBackoffMin           = time.Second
	DefaultBackoffMax           = 30 * time.Second
)

// ErrCredentialRejected is returned by Run when the datagateway refuses the agent's
// credential (the agent was revoked or deleted): retrying cannot help.
var ErrCredentialRejected = errors.New("the datagateway rejected this agent's credential")

// ErrEnrollmentRejected is returned by Run when the datagateway refuses the enrollment
// token (unknown, expired or already used).
var ErrEnrollmentRejected = errors.New("the datagateway rejected the enrollment token")

// complete validates c and fills in defaults.
func (c Config) complete() (Config, error) {
	if c.Server == "" {
		return c, errors.New("the datagateway address (--server) is required")
	}
	if c.Insecure && (c.TLSCAFile != "" || c.TLSServerName != "") {
		return c, errors.New("--insecure cannot be combined with TLS settings")
	}
	if c.CredentialFile == "" {
		c.CredentialFile = DefaultCredentialFile
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.Hostname == "" {
		c.Hostname, _ = os.Hostname()
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.MaxConcurrentQueries <= 0 {
		c.MaxConcurrentQueries = DefaultMaxConcurrentQueries
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = DefaultBackoffMin
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = DefaultBackoffMax
	}
	if c.BackoffMax < c.BackoffMin {
		return c, fmt.Errorf("the maximum backoff (%s) is below the minimum (%s)", c.BackoffMax, c.BackoffMin)
	}
	return c, nil
}

// Run enrolls when needed, then connects and serves until ctx is done, reconnecting with
// jittered exponential backoff. It returns nil when ctx ends, and an error wrapping
// ErrCredentialRejected or ErrEnrollmentRejected when retrying cannot help.
func Run(ctx context.Context, cfg Config) error {
	cfg, err := cfg.complete()
	if err != nil {
		return err
	}
	conn, err := dial(cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	a := &agent{cfg: cfg, log: cfg.Log, client: datagatewayv1.NewAgentTunnelServiceClient(conn)}

	a.cred, err = loadCredential(cfg.CredentialFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if cfg.EnrollmentToken == "" {
			return fmt.Errorf("no credential file at %s and no enrollment token: create an enrollment token for this agent and pass it with --enrollment-token (or ORIEL_AGENT_ENROLLMENT_TOKEN)", cfg.CredentialFile)
		}
		if a.cred, err = a.enroll(ctx); err != nil {
			return err
		}
		if a.cred.Agent == "" {
			return nil // ctx ended while enrolling
		}
	case err != nil:
		return err
	default:
		if cfg.EnrollmentToken != "" {
			a.log.Info("credential file found; the enrollment token is not needed and was not used", "credential_file", cfg.CredentialFile)
		}
	}
	a.log = a.log.With("agent", a.cred.Agent)
	return a.serve(ctx)
}

// dial opens the client connection. Its keepalive is the one tunnel.AgentKeepalive*
// describes (acceptable to the server's enforcement policy), and gRPC's own reconnect
// backoff is bounded like the agent's, so a long outage does not leave the channel
// waiting past BackoffMax.
func dial(cfg Config) (*grpc.ClientConn, error) {
	var creds credentials.TransportCredentials
	if cfg.Insecure {
		creds = insecure.NewCredentials()
	} else {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.TLSServerName}
		if cfg.TLSCAFile != "" {
			pem, err := os.ReadFile(cfg.TLSCAFile)
			if err != nil {
				return nil, fmt.Errorf("--tls-ca-file: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--tls-ca-file %s holds no PEM certificate", cfg.TLSCAFile)
			}
		}
		creds = credentials.NewTLS(tc)
	}
	conn, err := grpc.NewClient(cfg.Server,
		grpc.WithTransportCredentials(creds),
		grpc.WithUserAgent("oriel-agent/"+cfg.Version),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:                tunnel.AgentKeepaliveTime,
			Timeout:             tunnel.AgentKeepaliveTimeout,
			PermitWithoutStream: true,
		}),
		grpc.WithDefaultCallOptions(grpc.CallContentSubtype(tunnel.CodecName)),
		// Batches are tens to hundreds of KiB: a larger buffer writes each in fewer
		// syscalls (one connection per agent, so the memory is small).
		grpc.WithWriteBufferSize(256<<10),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: grpcbackoff.Config{
				BaseDelay:  cfg.BackoffMin,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   cfg.BackoffMax,
			},
			MinConnectTimeout: 20 * time.Second,
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("datagateway address %q: %w", cfg.Server, err)
	}
	return conn, nil
}

type agent struct {
	cfg    Config
	log    *slog.Logger
	client datagatewayv1.AgentTunnelServiceClient
	cred   credential
}

// newBackoff is the jittered exponential wait between attempts.
func (a *agent) newBackoff() *backoff.ExponentialBackOff {
	b := &backoff.ExponentialBackOff{
		InitialInterval:     a.cfg.BackoffMin,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         a.cfg.BackoffMax,
	}
	b.Reset()
	return b
}

// sleep waits d or until ctx ends, reporting whether it waited.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// enroll spends the enrollment token and saves the credential, retrying while the
// datagateway is unreachable. It returns a zero credential when ctx ends first.
func (a *agent) enroll(ctx context.Context) (credential, error) {
	bo := a.newBackoff()
	for {
		resp, err := a.client.Enroll(ctx, &datagatewayv1.EnrollRequest{EnrollmentToken: a.cfg.EnrollmentToken})
		if err == nil {
			cred := credential{Agent: resp.GetAgent(), Credential: resp.GetCredential()}
			if err := saveCredential(a.cfg.CredentialFile, cred); err != nil {
				return credential{}, fmt.Errorf("enrolled as %s, but cannot save the credential (the token is spent: create a new one after fixing this): %w", cred.Agent, err)
			}
			a.log.Info("enrolled", "agent", cred.Agent, "credential_file", a.cfg.CredentialFile)
			return cred, nil
		}
		if ctx.Err() != nil {
			return credential{}, nil
		}
		switch status.Code(err) {
		case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted:
		case codes.Unauthenticated:
			return credential{}, fmt.Errorf("%w: %s", ErrEnrollmentRejected, status.Convert(err).Message())
		default:
			return credential{}, fmt.Errorf("enroll: %w", err)
		}
		d := bo.NextBackOff()
		a.log.Warn("cannot reach the datagateway to enroll; retrying", "error", err, "retry_in", d.String())
		if !sleep(ctx, d) {
			return credential{}, nil
		}
	}
}

// serve holds a stream, reconnecting with backoff, until ctx ends or the credential is
// refused.
func (a *agent) serve(ctx context.Context) error {
	bo := a.newBackoff()
	for {
		established, err := a.session(ctx)
		if ctx.Err() != nil {
			a.log.Info("stopped")
			return nil
		}
		if status.Code(err) == codes.Unauthenticated {
			a.log.Error("the datagateway rejected this agent's credential; stopping", "error", err)
			return fmt.Errorf("%w (agent %s: %s); if the agent was revoked, delete %s and enroll it again with a new enrollment token",
				ErrCredentialRejected, a.cred.Agent, status.Convert(err).Message(), a.cfg.CredentialFile)
		}
		if established {
			bo.Reset()
		}
		d := bo.NextBackOff()
		// Say which: a stream that ran and broke (the network, a datagateway restart) or
		// one that never opened (the address, or TLS: a certificate that never verifies
		// shows here, so that it is not mistaken for a datagateway that is down).
		msg := "could not open a stream to the datagateway; retrying"
		if established {
			msg = "stream lost; reconnecting"
		}
		a.log.Warn(msg, "error", err, "retry_in", d.String())
		if !sleep(ctx, d) {
			a.log.Info("stopped")
			return nil
		}
	}
}
