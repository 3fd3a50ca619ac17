package commands

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/alecthomas/kong"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/oriel-dev/oriel/cli/internal/client"
	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
)

// ReplicationsCmd is `oriel replications`.
type ReplicationsCmd struct {
	ClientFlags `embed:""`

	Create ReplicationsCreateCmd `cmd:"" help:"Replicate tables of a PostgreSQL connection into another, continuously (a snapshot, then every change)."`
	Get    ReplicationsGetCmd    `cmd:"" help:"Show a replication and its status: state, lag, rows applied, retained WAL, last error."`
	List   ReplicationsListCmd   `cmd:"" help:"List the replications of a tenant."`
	Pause  ReplicationsPauseCmd  `cmd:"" help:"Pause streaming; the source keeps its WAL meanwhile, so do not pause for long."`
	Resume ReplicationsResumeCmd `cmd:"" help:"Resume a paused or failed replication from where it stopped."`
	Delete ReplicationsDeleteCmd `cmd:"" help:"Delete a replication and drop its slot and publication at the source; the target's tables stay."`
	Watch  ReplicationsWatchCmd  `cmd:"" help:"Show a replication's state and lag as they change, until interrupted or it fails."`
}

// replicationArg is the positional name of a replication.
type replicationArg struct {
	Name string `arg:"" help:"The replication, e.g. tenants/acme/replications/orders."`
}

// ReplicationsCreateCmd is `oriel replications create`.
type ReplicationsCreateCmd struct {
	Tenant      string   `arg:"" help:"The tenant: acme or tenants/acme."`
	ID          string   `arg:"" help:"The replication's id: 3 to 40 lowercase letters, digits and hyphens (it names the replication slot)."`
	DisplayName string   `name:"display-name" required:"" placeholder:"NAME" env:"-" help:"Human-readable name, 1 to 200 characters."`
	Source      string   `name:"source" required:"" placeholder:"CONNECTION" env:"-" help:"The source: a postgres connection (its id or name) whose user may replicate, on a server with wal_level=logical."`
	Target      string   `name:"target" required:"" placeholder:"CONNECTION" env:"-" help:"The target: a postgres connection (its id or name); missing tables are created there."`
	Table       []string `name:"table" required:"" placeholder:"TABLE" env:"-" help:"A table to replicate, schema.table or table (schema public), with a primary key (repeatable, or comma-separated)."`
}

// Run creates the replication.
func (c *ReplicationsCreateCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.CreateReplication(ctx, &datagatewayv1.CreateReplicationRequest{
		Parent:        tenantName(c.Tenant),
		ReplicationId: c.ID,
		Replication: &datagatewayv1.Replication{
			DisplayName:      c.DisplayName,
			SourceConnection: childName(c.Tenant, "connections", c.Source),
			TargetConnection: childName(c.Tenant, "connections", c.Target),
			Tables:           nonEmpty(c.Table),
		},
	})
	if err != nil {
		return err
	}
	if err := s.printReplication(resp.GetReplication()); err != nil {
		return err
	}
	fmt.Fprintf(s.Stderr, "follow it: oriel replications watch %s\n", resp.GetReplication().GetName())
	return nil
}

// ReplicationsGetCmd is `oriel replications get`.
type ReplicationsGetCmd struct{ replicationArg }

// Run shows the replication.
func (c *ReplicationsGetCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.GetReplication(ctx, &datagatewayv1.GetReplicationRequest{Name: c.Name})
	if err != nil {
		return err
	}
	return s.printReplication(resp.GetReplication())
}

// ReplicationsListCmd is `oriel replications list`.
type ReplicationsListCmd struct {
	Tenant string      `arg:"" help:"The tenant: acme or tenants/acme."`
	Paging pagingFlags `embed:""`
}

// Run lists the tenant's replications.
func (c *ReplicationsListCmd) Run(kctx *kong.Context, s *Session) error {
	return listing(kctx, s, c.Paging, "replications",
		func(ctx context.Context, size int32, token string) ([]*datagatewayv1.Replication, string, error) {
			resp, err := s.Client.ListReplications(ctx, &datagatewayv1.ListReplicationsRequest{Parent: tenantName(c.Tenant), PageSize: size, PageToken: token})
			return resp.GetReplications(), resp.GetNextPageToken(), err
		},
		func(items []*datagatewayv1.Replication, next string) proto.Message {
			return &datagatewayv1.ListReplicationsResponse{Replications: items, NextPageToken: next}
		},
		printReplicationTable)
}

// ReplicationsPauseCmd is `oriel replications pause`.
type ReplicationsPauseCmd struct{ replicationArg }

// Run pauses the replication.
func (c *ReplicationsPauseCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.PauseReplication(ctx, &datagatewayv1.PauseReplicationRequest{Name: c.Name})
	if err != nil {
		return err
	}
	return s.printReplication(resp.GetReplication())
}

// ReplicationsResumeCmd is `oriel replications resume`.
type ReplicationsResumeCmd struct{ replicationArg }

// Run resumes the replication.
func (c *ReplicationsResumeCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.ResumeReplication(ctx, &datagatewayv1.ResumeReplicationRequest{Name: c.Name})
	if err != nil {
		return err
	}
	return s.printReplication(resp.GetReplication())
}

// ReplicationsDeleteCmd is `oriel replications delete`.
type ReplicationsDeleteCmd struct{ replicationArg }

// Run deletes the replication.
func (c *ReplicationsDeleteCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.DeleteReplication(ctx, &datagatewayv1.DeleteReplicationRequest{Name: c.Name})
	if err != nil {
		return err
	}
	return s.done(resp, "Deleted %s; its replication slot and publication at the source are dropped within moments (the target's tables stay).", c.Name)
}

// Pacing of a watch that the edge ended (its stream cap) or that broke.
const (
	rewatchFirstWait = 100 * time.Millisecond
	rewatchMaxWait   = 5 * time.Second
	rewatchAttempts  = 8
)

// ReplicationsWatchCmd is `oriel replications watch`.
type ReplicationsWatchCmd struct {
	replicationArg
	Until       string        `name:"until" enum:"failed,streaming" default:"failed" placeholder:"STATE" env:"-" help:"Stop when the replication is FAILED (the default; exit 1) or, with streaming, also once it is STREAMING (exit 0), e.g. after its snapshot."`
	WaitTimeout time.Duration `name:"wait-timeout" placeholder:"DURATION" env:"-" help:"Stop watching after this long (exit 0; the replication goes on); 0, the default, watches until interrupted."`
}

// Run prints a line whenever the replication changes (the whole replication as a JSON line
// with --output json, a YAML document with --output yaml), watching again whenever the edge
// ends a watch, until interrupted, --wait-timeout passes, or the replication fails.
func (c *ReplicationsWatchCmd) Run(s *Session) error {
	if c.WaitTimeout < 0 {
		return fmt.Errorf("--wait-timeout must not be negative, got %s", c.WaitTimeout)
	}
	ctx, cancel := watchContext(c.WaitTimeout)
	defer cancel()
	var last *datagatewayv1.Replication
	wait, failures := rewatchFirstWait, 0
	for {
		var watchErr error
		for resp, err := range s.Client.WatchReplication(ctx, &datagatewayv1.WatchReplicationRequest{Name: c.Name}) {
			if err != nil {
				watchErr = err
				break
			}
			r := resp.GetReplication()
			wait, failures = rewatchFirstWait, 0
			if last != nil && proto.Equal(last, r) {
				continue
			}
			last = r
			if err := s.showReplication(r); err != nil {
				return err
			}
			switch {
			case r.GetState() == datagatewayv1.Replication_STATE_FAILED:
				return fmt.Errorf("%s FAILED: %s (fix it, then: oriel replications resume %s)", r.GetName(), oneLine(r.GetLastError()), r.GetName())
			case c.Until == "streaming" && r.GetState() == datagatewayv1.Replication_STATE_STREAMING:
				return nil
			}
		}
		if ctx.Err() != nil {
			// Interrupted or --wait-timeout: the replication goes on, and that is success.
			return nil
		}
		failures++
		if watchErr != nil && (!client.RetryableWatchError(watchErr) || failures >= rewatchAttempts) {
			return watchErr
		}
		if failures >= rewatchAttempts {
			return fmt.Errorf("watch %s: the edge ended %d watches in a row without an update", c.Name, failures)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		wait = min(2*wait, rewatchMaxWait)
	}
}

// showReplication prints one update of a watch.
func (s *Session) showReplication(r *datagatewayv1.Replication) error {
	switch s.Output {
	case outputJSON:
		// One object a line, for scripts that read the watch as it goes.
		b, err := protojson.Marshal(r)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(s.Stdout, string(b))
		return err
	case outputYAML:
		// One document per update, each opened by ---, as a YAML stream.
		if _, err := io.WriteString(s.Stdout, "---\n"); err != nil {
			return err
		}
		return s.print(r)
	}
	_, err := fmt.Fprintln(s.Stdout, replicationLine(r))
	return err
}
