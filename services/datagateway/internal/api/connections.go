package api

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.einride.tech/aip/fieldmask"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/validation"
	"github.com/oriel-dev/oriel/services/datagateway/internal/source"
	"github.com/oriel-dev/oriel/services/datagateway/internal/store"
)

// ConnectionServer implements ConnectionService.
type ConnectionServer struct {
	datagatewayv1.UnimplementedConnectionServiceServer
	*Server
}

// seal encrypts creds bound to the connection's name; nil (no credentials) for none or
// an empty message, so has_credentials means there is something to use.
func (s *Server) seal(name string, creds *datagatewayv1.Credentials) (*store.Sealed, error) {
	if creds == nil || proto.Size(creds) == 0 {
		return nil, nil
	}
	plaintext, err := proto.Marshal(creds)
	if err != nil {
		return nil, err
	}
	keyID, ciphertext, err := s.keys.Seal(plaintext, []byte(name))
	if err != nil {
		return nil, err
	}
	return &store.Sealed{KeyID: keyID, Ciphertext: ciphertext}, nil
}

// open decrypts a connection's credentials; nil when it has none.
func (s *Server) open(name string, sealed *store.Sealed) (*datagatewayv1.Credentials, error) {
	if sealed == nil {
		return nil, nil
	}
	plaintext, err := s.keys.Open(sealed.KeyID, sealed.Ciphertext, []byte(name))
	if err != nil {
		return nil, err
	}
	creds := &datagatewayv1.Credentials{}
	if err := proto.Unmarshal(plaintext, creds); err != nil {
		return nil, err
	}
	return creds, nil
}

// CreateConnection stores a connection with its credentials sealed.
func (s ConnectionServer) CreateConnection(ctx context.Context, req *datagatewayv1.CreateConnectionRequest) (*datagatewayv1.CreateConnectionResponse, error) {
	tenant := segments(req.GetParent())["tenants"]
	if err := authorize(ctx, tenant, req.GetParent(), Manage, "create connections in "+req.GetParent()); err != nil {
		return nil, err
	}
	in := req.GetConnection()
	id := req.GetConnectionId()
	if id == "" {
		id = newID("c")
	}
	name := store.ConnectionName(tenant, id)
	now := timestamppb.New(s.clock())
	c := &datagatewayv1.Connection{
		Name: name, DisplayName: in.GetDisplayName(), Postgres: in.GetPostgres(), Mysql: in.GetMysql(), Http: in.GetHttp(),
		AgentPool: in.GetAgentPool(), CreateTime: now, UpdateTime: now,
	}
	sealed, err := s.seal(name, in.GetCredentials())
	if err != nil {
		return nil, s.toStatus(ctx, err, name)
	}
	if err := s.store.CreateConnection(ctx, tenant, id, c, sealed); err != nil {
		return nil, s.toStatus(ctx, err, name)
	}
	return &datagatewayv1.CreateConnectionResponse{Connection: c}, nil
}

// GetConnection returns a connection without its credentials.
func (s ConnectionServer) GetConnection(ctx context.Context, req *datagatewayv1.GetConnectionRequest) (*datagatewayv1.GetConnectionResponse, error) {
	ids := segments(req.GetName())
	if err := authorize(ctx, ids["tenants"], req.GetName(), Manage, "read "+req.GetName()); err != nil {
		return nil, err
	}
	c, err := s.store.GetConnection(ctx, ids["tenants"], ids["connections"])
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetName())
	}
	return &datagatewayv1.GetConnectionResponse{Connection: c.Connection}, nil
}

// ListConnections lists a tenant's connections by name.
func (s ConnectionServer) ListConnections(ctx context.Context, req *datagatewayv1.ListConnectionsRequest) (*datagatewayv1.ListConnectionsResponse, error) {
	tenant := segments(req.GetParent())["tenants"]
	if err := authorize(ctx, tenant, req.GetParent(), Manage, "list the connections of "+req.GetParent()); err != nil {
		return nil, err
	}
	page, size, err := listPage(req, req.GetPageToken(), req.GetPageSize())
	if err != nil {
		return nil, err
	}
	list, err := s.store.ListConnections(ctx, tenant, page)
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetParent())
	}
	resp := &datagatewayv1.ListConnectionsResponse{}
	resp.Connections, resp.NextPageToken = trimPage(req, list, size, func(c *datagatewayv1.Connection) string {
		return segments(c.GetName())["connections"]
	})
	return resp, nil
}

// connectionPaths are the update_mask paths UpdateConnection accepts; below the kinds'
// parameters and the credentials, their fields too (`postgres.host`,
// `credentials.password`).
var connectionPaths = []string{"display_name", "postgres", "mysql", "http", "agent_pool", "credentials"}

// connectionOutputOnly are paths an update ignores.
var connectionOutputOnly = []string{"has_credentials", "create_time", "update_time"}

// updateMask returns the paths of an update: the mask's, or the populated fields for an
// empty one. `*` replaces every field but the credentials, which it replaces only when
// sent: they are input only, so a client that PUTs back what it read would otherwise
// erase them.
func updateMask(mask *fieldmaskpb.FieldMask, in *datagatewayv1.Connection) ([]string, error) {
	paths := mask.GetPaths()
	if len(paths) == 0 {
		in.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
			paths = append(paths, string(fd.Name()))
			return true
		})
	}
	var out []string
	for _, p := range paths {
		top, _, _ := strings.Cut(p, ".")
		switch {
		case p == "name" || p == "etag" || slices.Contains(connectionOutputOnly, p):
		case p == "*":
			for _, q := range connectionPaths {
				if q != "credentials" || in.GetCredentials() != nil {
					out = append(out, q)
				}
			}
		case slices.Contains(connectionPaths, p),
			p != top && slices.Contains([]string{"postgres", "mysql", "http", "credentials"}, top):
			out = append(out, p)
		default:
			return nil, invalid("update_mask", "cannot update "+p+"; updatable: "+strings.Join(connectionPaths, ", "))
		}
	}
	if len(out) == 0 {
		return nil, invalid("update_mask", "names no updatable field: nothing to update")
	}
	if err := fieldmask.Validate(&fieldmaskpb.FieldMask{Paths: out}, in); err != nil {
		return nil, invalid("update_mask", err.Error())
	}
	return slices.Compact(out), nil
}

// UpdateConnection changes a connection's display name, parameters (of its kind), pool or
// credentials.
func (s ConnectionServer) UpdateConnection(ctx context.Context, req *datagatewayv1.UpdateConnectionRequest) (*datagatewayv1.UpdateConnectionResponse, error) {
	in := req.GetConnection()
	ids := segments(in.GetName())
	tenant, id := ids["tenants"], ids["connections"]
	if tenant == "" || id == "" || in.GetName() != store.ConnectionName(tenant, id) {
		return nil, invalid("connection.name", "must be a connection name such as tenants/acme/connections/erp")
	}
	if err := authorize(ctx, tenant, in.GetName(), Manage, "change "+in.GetName()); err != nil {
		return nil, err
	}
	paths, err := updateMask(req.GetUpdateMask(), in)
	if err != nil {
		return nil, err
	}
	cur, err := s.store.GetConnection(ctx, tenant, id)
	if err != nil {
		return nil, s.toStatus(ctx, err, in.GetName())
	}
	if in.GetEtag() != "" && in.GetEtag() != cur.Connection.GetEtag() {
		return nil, s.toStatus(ctx, store.ErrEtagMismatch, in.GetName())
	}
	touchesCreds := slices.ContainsFunc(paths, func(p string) bool { return p == "credentials" || strings.HasPrefix(p, "credentials.") })
	merged := proto.Clone(cur.Connection).(*datagatewayv1.Connection)
	if touchesCreds {
		// Credential fields merge into the stored ones, so a mask of
		// `credentials.password` keeps the rest.
		if merged.Credentials, err = s.open(in.GetName(), cur.Credentials); err != nil {
			return nil, s.toStatus(ctx, err, in.GetName())
		}
	}
	fieldmask.Update(&fieldmaskpb.FieldMask{Paths: paths}, merged, in)
	if kind := store.Kind(cur.Connection); kind != store.Kind(merged) || kindsSet(merged) != 1 {
		return nil, apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_IMMUTABLE_FIELD, apierr.FieldViolation{
			Field: "connection." + kind, Description: "the kind of a connection (" + kind + ") cannot change after creation; create another connection",
		})
	}
	if err := validation.Resource(ctx, s.log, merged, "connection"); err != nil {
		return nil, err
	}
	var sealed *store.Sealed
	if touchesCreds {
		if sealed, err = s.seal(in.GetName(), merged.GetCredentials()); err != nil {
			return nil, s.toStatus(ctx, err, in.GetName())
		}
	}
	merged.Credentials = nil
	if !touchesCreds && proto.Equal(merged, cur.Connection) {
		return &datagatewayv1.UpdateConnectionResponse{Connection: cur.Connection}, nil // nothing changes: same etag
	}
	merged.UpdateTime = timestamppb.New(s.clock())
	if err := s.store.UpdateConnection(ctx, tenant, id, cur.Connection.GetEtag(), merged, touchesCreds, sealed); err != nil {
		return nil, s.toStatus(ctx, err, in.GetName())
	}
	return &datagatewayv1.UpdateConnectionResponse{Connection: merged}, nil
}

// kindsSet counts the kinds whose parameters c holds.
func kindsSet(c *datagatewayv1.Connection) int {
	n := 0
	for _, set := range []bool{c.GetPostgres() != nil, c.GetMysql() != nil, c.GetHttp() != nil} {
		if set {
			n++
		}
	}
	return n
}

// DeleteConnection deletes a connection no replication uses.
func (s ConnectionServer) DeleteConnection(ctx context.Context, req *datagatewayv1.DeleteConnectionRequest) (*datagatewayv1.DeleteConnectionResponse, error) {
	ids := segments(req.GetName())
	if err := authorize(ctx, ids["tenants"], req.GetName(), Manage, "delete "+req.GetName()); err != nil {
		return nil, err
	}
	if err := s.store.DeleteConnection(ctx, ids["tenants"], ids["connections"], req.GetEtag()); err != nil {
		return nil, s.toStatus(ctx, err, req.GetName())
	}
	return &datagatewayv1.DeleteConnectionResponse{}, nil
}

// sourceOf reads a connection the caller may use, with its credentials opened, as the
// Source that source and the hub take.
func (s *Server) sourceOf(ctx context.Context, name, what string) (*store.Connection, *datagatewayv1.Source, error) {
	ids := segments(name)
	if err := authorize(ctx, ids["tenants"], name, Use, what); err != nil {
		return nil, nil, err
	}
	c, src, err := s.loadSource(ctx, ids["tenants"], ids["connections"])
	if err != nil {
		return nil, nil, s.toStatus(ctx, err, name)
	}
	return c, src, nil
}

// loadSource reads a connection and opens its credentials.
func (s *Server) loadSource(ctx context.Context, tenant, id string) (*store.Connection, *datagatewayv1.Source, error) {
	c, err := s.store.GetConnection(ctx, tenant, id)
	if err != nil {
		return nil, nil, err
	}
	creds, err := s.open(c.Connection.GetName(), c.Credentials)
	if err != nil {
		return nil, nil, err
	}
	src := &datagatewayv1.Source{Credentials: creds}
	switch {
	case c.Connection.GetPostgres() != nil:
		src.Params = &datagatewayv1.Source_Postgres{Postgres: c.Connection.GetPostgres()}
	case c.Connection.GetMysql() != nil:
		src.Params = &datagatewayv1.Source_Mysql{Mysql: c.Connection.GetMysql()}
	case c.Connection.GetHttp() != nil:
		src.Params = &datagatewayv1.Source_Http{Http: c.Connection.GetHttp()}
	}
	return c, src, nil
}

// Source returns a connection of tenant with its credentials opened, and the agent pool
// it is routed through ("" for direct), for the replication engine (replication.Sources).
// connection is a connection id, as the store keeps it in a replication, or a full
// connection name of the same tenant. No caller is authorized here: the engine acts for
// whoever created the replication.
func (s *Server) Source(ctx context.Context, tenant, connection string) (*datagatewayv1.Source, string, error) {
	id := connection
	if strings.Contains(connection, "/") {
		ids := segments(connection)
		if ids["tenants"] != tenant || connection != store.ConnectionName(tenant, ids["connections"]) {
			return nil, "", fmt.Errorf("connection %q is not a connection of %s", connection, store.TenantName(tenant))
		}
		id = ids["connections"]
	}
	c, src, err := s.loadSource(ctx, tenant, id)
	if err != nil {
		return nil, "", fmt.Errorf("connection %s: %w", store.ConnectionName(tenant, id), err)
	}
	return src, c.Connection.GetAgentPool(), nil
}

// TestConnection connects to the source along the connection's route.
func (s ConnectionServer) TestConnection(ctx context.Context, req *datagatewayv1.TestConnectionRequest) (*datagatewayv1.TestConnectionResponse, error) {
	c, src, err := s.sourceOf(ctx, req.GetName(), "test "+req.GetName())
	if err != nil {
		return nil, err
	}
	if pool := c.Connection.GetAgentPool(); pool != "" {
		tenant := segments(req.GetName())["tenants"]
		resp, err := s.hub.Test(ctx, tenant, pool, src)
		if addrs := s.forwardTargets(ctx, err, tenant, pool); len(addrs) > 0 {
			if resp, ok, err := s.forwardTest(ctx, addrs, req); ok {
				return resp, err // the other replica's answer, as it gave it
			}
		}
		if err != nil {
			return nil, s.toStatus(ctx, err, req.GetName())
		}
		return resp, nil
	}
	return source.Test(ctx, src, s.source), nil
}

// limitsFor clamps what a query asks for to the service's limits.
func (s *Server) limitsFor(req *datagatewayv1.QueryRequest) source.Limits {
	lim := s.limits
	if n := req.GetRowLimit(); n > 0 && n < lim.RowLimit {
		lim.RowLimit = n
	}
	if req.GetTimeout() != nil {
		if d := req.GetTimeout().AsDuration(); d > 0 && d < lim.Timeout {
			lim.Timeout = d
		}
	}
	return lim
}

// Query runs a read-only statement and streams its result as the source produces it:
// a slow client slows the source (the stream's flow control), and a client that leaves
// cancels the statement.
func (s ConnectionServer) Query(req *datagatewayv1.QueryRequest, stream grpc.ServerStreamingServer[datagatewayv1.QueryResponse]) error {
	ctx := stream.Context()
	c, src, err := s.sourceOf(ctx, req.GetName(), "query "+req.GetName())
	if err != nil {
		return err
	}
	lim := s.limitsFor(req)
	// The limit's own deadline, plus a little for the source to say it ran out of time
	// before this call's context does.
	ctx, cancel := context.WithTimeout(ctx, lim.Timeout+5*time.Second)
	defer cancel()
	send := func(m *datagatewayv1.QueryResponse) error { return stream.Send(m) }
	if pool := c.Connection.GetAgentPool(); pool != "" {
		tenant := segments(req.GetName())["tenants"]
		_, err = s.hub.Query(ctx, tenant, pool, src, req.GetStatement(), req.GetParameters(), lim, send)
		// ErrNoAgent means nothing was sent yet, so the caller can take another
		// replica's whole answer instead.
		if addrs := s.forwardTargets(ctx, err, tenant, pool); len(addrs) > 0 {
			if ok, ferr := s.forwardQuery(ctx, addrs, req, send); ok {
				return ferr // the other replica's answer, as it gave it
			}
		}
	} else {
		err = source.Query(ctx, src, req.GetStatement(), req.GetParameters(), lim, s.source, send)
	}
	return s.toStatus(ctx, err, req.GetName())
}
