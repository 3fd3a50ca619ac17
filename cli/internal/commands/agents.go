package commands

import (
	"context"
	"fmt"

	"github.com/alecthomas/kong"
	"google.golang.org/protobuf/proto"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
)

// AgentsCmd is `oriel agents`.
type AgentsCmd struct {
	ClientFlags `embed:""`

	Create          AgentsCreateCmd          `cmd:"" help:"Register an agent (oriel-agent beside a customer's database); it enrolls with a token from enrollment-token."`
	Get             AgentsGetCmd             `cmd:"" help:"Show an agent and its status: connected, last heartbeat, version, in-flight queries."`
	List            AgentsListCmd            `cmd:"" help:"List the agents of a tenant."`
	EnrollmentToken AgentsEnrollmentTokenCmd `cmd:"" name:"enrollment-token" help:"Create the agent's one-time enrollment token (valid an hour; replaces an unused one)."`
	Revoke          AgentsRevokeCmd          `cmd:"" help:"Revoke the agent's credential and cut its stream; it may enroll again with a new token."`
	Delete          AgentsDeleteCmd          `cmd:"" help:"Delete an agent, revoking its credential and cutting its stream."`
}

// agentArg is the positional name of an agent.
type agentArg struct {
	Name string `arg:"" help:"The agent, e.g. tenants/acme/agents/dc1."`
}

// AgentsCreateCmd is `oriel agents create`.
type AgentsCreateCmd struct {
	Tenant      string `arg:"" help:"The tenant: acme or tenants/acme."`
	ID          string `arg:"" help:"The agent's id (last segment of its name): 3 to 63 lowercase letters, digits and hyphens."`
	DisplayName string `name:"display-name" required:"" placeholder:"NAME" env:"-" help:"Human-readable name, 1 to 200 characters."`
	Pool        string `name:"pool" placeholder:"POOL" env:"-" help:"The pool it serves (default when empty); connections name a pool, and any connected agent of it runs their queries. Cannot change later."`
}

// Run creates the agent.
func (c *AgentsCreateCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.CreateAgent(ctx, &datagatewayv1.CreateAgentRequest{
		Parent: tenantName(c.Tenant), AgentId: c.ID, Agent: &datagatewayv1.Agent{DisplayName: c.DisplayName, Pool: c.Pool},
	})
	if err != nil {
		return err
	}
	if err := s.printAgent(resp.GetAgent()); err != nil {
		return err
	}
	fmt.Fprintf(s.Stderr, "enroll it: oriel agents enrollment-token %s\n", resp.GetAgent().GetName())
	return nil
}

// AgentsGetCmd is `oriel agents get`.
type AgentsGetCmd struct{ agentArg }

// Run shows the agent.
func (c *AgentsGetCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.GetAgent(ctx, &datagatewayv1.GetAgentRequest{Name: c.Name})
	if err != nil {
		return err
	}
	return s.printAgent(resp.GetAgent())
}

// AgentsListCmd is `oriel agents list`.
type AgentsListCmd struct {
	Tenant string      `arg:"" help:"The tenant: acme or tenants/acme."`
	Paging pagingFlags `embed:""`
}

// Run lists the tenant's agents.
func (c *AgentsListCmd) Run(kctx *kong.Context, s *Session) error {
	return listing(kctx, s, c.Paging, "agents",
		func(ctx context.Context, size int32, token string) ([]*datagatewayv1.Agent, string, error) {
			resp, err := s.Client.ListAgents(ctx, &datagatewayv1.ListAgentsRequest{Parent: tenantName(c.Tenant), PageSize: size, PageToken: token})
			return resp.GetAgents(), resp.GetNextPageToken(), err
		},
		func(items []*datagatewayv1.Agent, next string) proto.Message {
			return &datagatewayv1.ListAgentsResponse{Agents: items, NextPageToken: next}
		},
		printAgentTable)
}

// AgentsEnrollmentTokenCmd is `oriel agents enrollment-token`.
type AgentsEnrollmentTokenCmd struct{ agentArg }

// Run creates the token and prints it once, with how to use it on stderr.
func (c *AgentsEnrollmentTokenCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.CreateEnrollmentToken(ctx, &datagatewayv1.CreateEnrollmentTokenRequest{Name: c.Name})
	if err != nil {
		return err
	}
	if s.structured() {
		return s.print(resp)
	}
	b := newBlock(s.Stdout)
	b.row("Token", resp.GetEnrollmentToken())
	b.row("Expires", formatTime(resp.GetExpireTime()))
	if err := b.flush(); err != nil {
		return err
	}
	fmt.Fprintln(s.Stderr, "Shown only now. Beside the database, give it to the agent in the environment, not on its command line:\n"+
		"  ORIEL_AGENT_ENROLLMENT_TOKEN=<token> oriel-agent run --server <datagateway host>:9104 --credential-file agent.credential")
	return nil
}

// AgentsRevokeCmd is `oriel agents revoke`.
type AgentsRevokeCmd struct{ agentArg }

// Run revokes the agent.
func (c *AgentsRevokeCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.RevokeAgent(ctx, &datagatewayv1.RevokeAgentRequest{Name: c.Name})
	if err != nil {
		return err
	}
	return s.printAgent(resp.GetAgent())
}

// AgentsDeleteCmd is `oriel agents delete`.
type AgentsDeleteCmd struct{ agentArg }

// Run deletes the agent.
func (c *AgentsDeleteCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.DeleteAgent(ctx, &datagatewayv1.DeleteAgentRequest{Name: c.Name})
	if err != nil {
		return err
	}
	return s.done(resp, "Deleted %s.", c.Name)
}
