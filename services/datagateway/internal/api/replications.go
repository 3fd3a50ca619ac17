package api

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/services/datagateway/internal/store"
)

// ReplicationServer implements ReplicationService. It records what callers ask for
// (start, pause, resume, delete); the replication engine does the work and records its
// progress in the same rows.
type ReplicationServer struct {
	datagatewayv1.UnimplementedReplicationServiceServer
	*Server
}

// FormatLSN writes a WAL position as PostgreSQL does, e.g. `0/16B3748`.
func FormatLSN(lsn uint64) string { return fmt.Sprintf("%X/%X", uint32(lsn>>32), uint32(lsn)) }

// replicationProto is a stored replication as the API shows it.
func replicationProto(r *store.Replication) *datagatewayv1.Replication {
	return &datagatewayv1.Replication{
		Name:             r.Name(),
		DisplayName:      r.DisplayName,
		SourceConnection: store.ConnectionName(r.Tenant, r.SourceConnection),
		TargetConnection: store.ConnectionName(r.Tenant, r.TargetConnection),
		Tables:           r.Tables,
		State:            r.State,
		SlotName:         r.SlotName,
		AppliedLsn:       FormatLSN(r.AppliedLSN),
		LagBytes:         r.LagBytes,
		LagSeconds:       r.LagSeconds,
		SnapshotRows:     r.SnapshotRows,
		RowsApplied:      r.RowsApplied,
		RetainedWalBytes: r.RetainedWALBytes,
		LastError:        r.LastError,
		Warnings:         r.Warnings,
		CreateTime:       timestamppb.New(r.CreateTime),
		UpdateTime:       timestamppb.New(r.UpdateTime),
		Etag:             r.Etag,
	}
}

// replicationEnd reads one end of a replication: a postgres connection of tenant, direct
// or routed through an agent pool.
func (s ReplicationServer) replicationEnd(ctx context.Context, tenant, field, name string) (string, error) {
	ids := segments(name)
	if ids["tenants"] != tenant {
		// Said from the name alone: whether the other tenant's connection exists is not
		// disclosed.
		return "", invalid(field, "must be a connection of "+store.TenantName(tenant))
	}
	c, err := s.store.GetConnection(ctx, tenant, ids["connections"])
	if err != nil {
		return "", s.toStatus(ctx, err, name)
	}
	if kind := store.Kind(c.Connection); kind != store.KindPostgres {
		return "", apierr.New(codes.FailedPrecondition, errorsv1.ErrorReason_ERROR_REASON_CONNECTION_KIND,
			name+" is a "+kind+" connection; replications need postgres connections at both ends",
			"connection", name, "kind", kind)
	}
	// Either end may be routed through an agent pool: the engine then reaches it through
	// a tunnel from one of the pool's agents, and waits for one to connect.
	return ids["connections"], nil
}

// CreateReplication records a replication in state SNAPSHOTTING; the engine picks it up.
func (s ReplicationServer) CreateReplication(ctx context.Context, req *datagatewayv1.CreateReplicationRequest) (*datagatewayv1.CreateReplicationResponse, error) {
	tenant := segments(req.GetParent())["tenants"]
	if err := authorize(ctx, tenant, req.GetParent(), Manage, "create replications in "+req.GetParent()); err != nil {
		return nil, err
	}
	in := req.GetReplication()
	if in.GetSourceConnection() == in.GetTargetConnection() {
		return nil, invalid("replication.target_connection", "must differ from the source connection")
	}
	sourceID, err := s.replicationEnd(ctx, tenant, "replication.source_connection", in.GetSourceConnection())
	if err != nil {
		return nil, err
	}
	targetID, err := s.replicationEnd(ctx, tenant, "replication.target_connection", in.GetTargetConnection())
	if err != nil {
		return nil, err
	}
	id := req.GetReplicationId()
	if id == "" {
		id = newID("r")
	}
	now := s.clock()
	r := &store.Replication{
		Tenant: tenant, ID: id, DisplayName: in.GetDisplayName(),
		SourceConnection: sourceID, TargetConnection: targetID, Tables: in.GetTables(),
		State:    datagatewayv1.Replication_STATE_SNAPSHOTTING,
		SlotName: store.SlotName(tenant, id), CreateTime: now, UpdateTime: now,
	}
	if err := s.store.CreateReplication(ctx, r); err != nil {
		return nil, s.toStatus(ctx, err, r.Name())
	}
	return &datagatewayv1.CreateReplicationResponse{Replication: replicationProto(r)}, nil
}

// GetReplication returns a replication and its status.
func (s ReplicationServer) GetReplication(ctx context.Context, req *datagatewayv1.GetReplicationRequest) (*datagatewayv1.GetReplicationResponse, error) {
	r, err := s.readReplication(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	return &datagatewayv1.GetReplicationResponse{Replication: replicationProto(r)}, nil
}

// readReplication authorizes the caller and reads a replication.
func (s ReplicationServer) readReplication(ctx context.Context, name string) (*store.Replication, error) {
	ids := segments(name)
	if err := authorize(ctx, ids["tenants"], name, Manage, "read "+name); err != nil {
		return nil, err
	}
	r, err := s.store.GetReplication(ctx, ids["tenants"], ids["replications"])
	if err != nil {
		return nil, s.toStatus(ctx, err, name)
	}
	return r, nil
}

// ListReplications lists a tenant's replications by name.
func (s ReplicationServer) ListReplications(ctx context.Context, req *datagatewayv1.ListReplicationsRequest) (*datagatewayv1.ListReplicationsResponse, error) {
	tenant := segments(req.GetParent())["tenants"]
	if err := authorize(ctx, tenant, req.GetParent(), Manage, "list the replications of "+req.GetParent()); err != nil {
		return nil, err
	}
	page, size, err := listPage(req, req.GetPageToken(), req.GetPageSize())
	if err != nil {
		return nil, err
	}
	list, err := s.store.ListReplications(ctx, tenant, page)
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetParent())
	}
	list, next := trimPage(req, list, size, func(r *store.Replication) string { return r.ID })
	resp := &datagatewayv1.ListReplicationsResponse{NextPageToken: next}
	for _, r := range list {
		resp.Replications = append(resp.Replications, replicationProto(r))
	}
	return resp, nil
}

// change authorizes the caller and applies change to a replication.
func (s ReplicationServer) change(ctx context.Context, name, what string, change func(r *store.Replication) error) (*store.Replication, error) {
	ids := segments(name)
	if err := authorize(ctx, ids["tenants"], name, Manage, what+" "+name); err != nil {
		return nil, err
	}
	r, err := s.store.ChangeReplication(ctx, ids["tenants"], ids["replications"], s.clock(), change)
	if err != nil {
		return nil, s.toStatus(ctx, err, name)
	}
	return r, nil
}

// PauseReplication stops a running (snapshotting or streaming) replication.
func (s ReplicationServer) PauseReplication(ctx context.Context, req *datagatewayv1.PauseReplicationRequest) (*datagatewayv1.PauseReplicationResponse, error) {
	r, err := s.change(ctx, req.GetName(), "pause", func(r *store.Replication) error {
		running := r.State == datagatewayv1.Replication_STATE_SNAPSHOTTING || r.State == datagatewayv1.Replication_STATE_STREAMING
		if r.Deleting || !running {
			return &store.StateError{State: r.State, Deleting: r.Deleting}
		}
		r.State = datagatewayv1.Replication_STATE_PAUSED
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &datagatewayv1.PauseReplicationResponse{Replication: replicationProto(r)}, nil
}

// ResumeReplication restarts a paused or failed replication where it stopped: streaming
// if its snapshot was copied, snapshotting again otherwise.
func (s ReplicationServer) ResumeReplication(ctx context.Context, req *datagatewayv1.ResumeReplicationRequest) (*datagatewayv1.ResumeReplicationResponse, error) {
	r, err := s.change(ctx, req.GetName(), "resume", func(r *store.Replication) error {
		stopped := r.State == datagatewayv1.Replication_STATE_PAUSED || r.State == datagatewayv1.Replication_STATE_FAILED
		if r.Deleting || !stopped {
			return &store.StateError{State: r.State, Deleting: r.Deleting}
		}
		r.State = datagatewayv1.Replication_STATE_SNAPSHOTTING
		// The engine records a position only once the snapshot is in the target.
		if r.SnapshotDone || r.AppliedLSN != 0 {
			r.State = datagatewayv1.Replication_STATE_STREAMING
		}
		r.LastError = ""
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &datagatewayv1.ResumeReplicationResponse{Replication: replicationProto(r)}, nil
}

// DeleteReplication marks a replication for deletion. The engine drops its slot and
// publication at the source and then the replication; until then Get shows it.
func (s ReplicationServer) DeleteReplication(ctx context.Context, req *datagatewayv1.DeleteReplicationRequest) (*datagatewayv1.DeleteReplicationResponse, error) {
	_, err := s.change(ctx, req.GetName(), "delete", func(r *store.Replication) error {
		r.Deleting = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &datagatewayv1.DeleteReplicationResponse{}, nil
}

// WatchReplication sends the replication at once and again whenever it changes, until
// the client leaves. When the replication is gone (deleted), the stream ends NOT_FOUND.
func (s ReplicationServer) WatchReplication(req *datagatewayv1.WatchReplicationRequest, stream grpc.ServerStreamingServer[datagatewayv1.WatchReplicationResponse]) error {
	ctx := stream.Context()
	tick := time.NewTicker(s.watchInterval)
	defer tick.Stop()
	last := ""
	for {
		r, err := s.readReplication(ctx, req.GetName())
		if err != nil {
			return err
		}
		if r.Etag != last {
			if err := stream.Send(&datagatewayv1.WatchReplicationResponse{Replication: replicationProto(r)}); err != nil {
				return err
			}
			last = r.Etag
		}
		select {
		case <-ctx.Done():
			return apierr.FromError(ctx, s.log, ctx.Err())
		case <-tick.C:
		}
	}
}
