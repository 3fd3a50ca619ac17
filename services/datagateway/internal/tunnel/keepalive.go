package tunnel

import "time"

// The settings both ends of the tunnel agree on, in one place.
//
// Two mechanisms detect a dead peer, and both must fire before the other end notices:
//
//   - Heartbeats, in the tunnel protocol: each end sends a Heartbeat every
//     HeartbeatInterval, and each drops the stream when it has heard nothing at all (no
//     heartbeat, no query event, no credit) for HeartbeatTimeout. The hub chooses both and
//     tells the agent in Welcome, so a change on the datagateway needs no agent upgrade.
//     This is what finds a silent network cut (a middlebox dropping packets with the
//     sockets still open) within HeartbeatTimeout, and it works through proxies that
//     answer HTTP/2 pings themselves.
//   - gRPC keepalive, on the HTTP/2 connection: the agent pings after AgentKeepaliveTime
//     without activity and closes the connection when no ack comes within
//     AgentKeepaliveTimeout. The server (platform/server) enforces a MinTime of 10s with
//     PermitWithoutStream, and answers a client pinging more often with GOAWAY
//     (ENHANCE_YOUR_CALM), so AgentKeepaliveTime must stay ≥ 10s; the server's own
//     keepalive (Time 30s, Timeout 10s) closes connections of agents that vanish.
//
// The heartbeat timeout (30s) is the bound on detecting a dead agent; keepalive (at most
// 20s + 10s) frees the connection itself so the agent's reconnect gets a new one.
const (
	// DefaultHeartbeatInterval is how often each end sends a Heartbeat.
	DefaultHeartbeatInterval = 10 * time.Second
	// DefaultHeartbeatTimeout is how long either end waits without hearing anything before
	// it drops the stream: three missed heartbeats.
	DefaultHeartbeatTimeout = 30 * time.Second
	// AgentKeepaliveTime is how long the agent's connection may be idle before it pings;
	// at least the server's keepalive EnforcementPolicy.MinTime (10s).
	AgentKeepaliveTime = 20 * time.Second
	// AgentKeepaliveTimeout is how long the agent waits for a ping's ack.
	AgentKeepaliveTimeout = 10 * time.Second
)

// Flow control and batching defaults.
const (
	// DefaultInitialCredit is how many batches an agent may send ahead of the consumer: with
	// DefaultBatchRows it keeps the pipe full on a loopback or LAN link while bounding what
	// the hub buffers per query (InitialCredit batches) whatever the consumer does.
	DefaultInitialCredit = 8
	// DefaultBatchRows is the rows per batch sent through the tunnel, when the caller's
	// limits do not say.
	DefaultBatchRows = 2000
	// MaxMessageBytes is the largest message an agent sends: the gRPC server's default
	// receive limit (4 MiB) less room for framing. The agent splits larger batches.
	MaxMessageBytes = 4<<20 - 64<<10
	// DefaultTunnelWindow is how many bytes of a tunnel each end may send ahead of the
	// other's acknowledgement: 1 MiB keeps a replication stream flowing at hundreds of
	// MB/s on a LAN (the window over the round trip) while bounding what either end holds.
	DefaultTunnelWindow = 1 << 20
	// MaxTunnelWindow is the largest window the agent accepts in OpenTunnel.
	MaxTunnelWindow = 16 << 20
	// MaxTunnelChunk is the most bytes one TunnelData carries.
	MaxTunnelChunk = 64 << 10
)
