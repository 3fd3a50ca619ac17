package commands

import (
	"context"
	"errors"

	"github.com/alecthomas/kong"
	"google.golang.org/protobuf/proto"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
)

// UsersCmd is `oriel users`.
type UsersCmd struct {
	ClientFlags `embed:""`

	Get     UsersGetCmd     `cmd:"" help:"Show a user."`
	List    UsersListCmd    `cmd:"" help:"List a tenant's users."`
	Disable UsersDisableCmd `cmd:"" help:"Disable a user: its embed tokens stop working at once and it cannot exchange JWTs."`
	Enable  UsersEnableCmd  `cmd:"" help:"Enable a disabled user."`
}

// userArg is the positional name of a user; users' ids are derived from their provider
// and subject, so the name comes from a listing or an introspection.
type userArg struct {
	Name string `arg:"" help:"The user, e.g. tenants/acme/users/u3k… (from oriel users list)."`
}

// UsersGetCmd is `oriel users get`.
type UsersGetCmd struct{ userArg }

// Run shows the user.
func (c *UsersGetCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.GetUser(ctx, &identityv1.GetUserRequest{Name: c.Name})
	if err != nil {
		return err
	}
	return s.printUser(resp.GetUser())
}

// UsersListCmd is `oriel users list`.
type UsersListCmd struct {
	Tenant string      `arg:"" help:"The tenant: acme or tenants/acme."`
	Paging pagingFlags `embed:""`
}

// Run lists the tenant's users.
func (c *UsersListCmd) Run(kctx *kong.Context, s *Session) error {
	return listing(kctx, s, c.Paging, "users",
		func(ctx context.Context, size int32, token string) ([]*identityv1.User, string, error) {
			resp, err := s.Client.ListUsers(ctx, &identityv1.ListUsersRequest{Parent: tenantName(c.Tenant), PageSize: size, PageToken: token})
			return resp.GetUsers(), resp.GetNextPageToken(), err
		},
		func(items []*identityv1.User, next string) proto.Message {
			return &identityv1.ListUsersResponse{Users: items, NextPageToken: next}
		},
		printUserTable)
}

// UsersDisableCmd is `oriel users disable`.
type UsersDisableCmd struct{ userArg }

// Run disables the user.
func (c *UsersDisableCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.DisableUser(ctx, &identityv1.DisableUserRequest{Name: c.Name})
	if err != nil {
		return err
	}
	return s.printUser(resp.GetUser())
}

// UsersEnableCmd is `oriel users enable`.
type UsersEnableCmd struct{ userArg }

// Run enables the user.
func (c *UsersEnableCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.EnableUser(ctx, &identityv1.EnableUserRequest{Name: c.Name})
	if err != nil {
		return err
	}
	return s.printUser(resp.GetUser())
}

// GroupsCmd is `oriel groups`.
type GroupsCmd struct {
	ClientFlags `embed:""`

	Create GroupsCreateCmd `cmd:"" help:"Create a group for a value of the groups claim, e.g. to bind a role to it before its users sign in."`
	Get    GroupsGetCmd    `cmd:"" help:"Show a group."`
	List   GroupsListCmd   `cmd:"" help:"List a tenant's groups."`
	Delete GroupsDeleteCmd `cmd:"" help:"Delete a group, its memberships and the role bindings that name it."`
}

// groupArg is the positional name of a group.
type groupArg struct {
	Name string `arg:"" help:"The group, e.g. tenants/acme/groups/analysts."`
}

// GroupsCreateCmd is `oriel groups create`.
type GroupsCreateCmd struct {
	Tenant     string `arg:"" help:"The tenant: acme or tenants/acme."`
	ClaimValue string `arg:"" name:"claim-value" help:"The value of the JWT's groups claim that stands for the group, matched exactly, e.g. analysts."`
	ID         string `name:"id" placeholder:"ID" env:"-" help:"The group's id (last segment of its name); derived from the claim value when empty, as a first sign-in would."`
}

// Run creates the group.
func (c *GroupsCreateCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.CreateGroup(ctx, &identityv1.CreateGroupRequest{
		Parent: tenantName(c.Tenant), GroupId: c.ID, Group: &identityv1.Group{ClaimValue: c.ClaimValue},
	})
	if err != nil {
		return err
	}
	return s.printGroup(resp.GetGroup())
}

// GroupsGetCmd is `oriel groups get`.
type GroupsGetCmd struct{ groupArg }

// Run shows the group.
func (c *GroupsGetCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.GetGroup(ctx, &identityv1.GetGroupRequest{Name: c.Name})
	if err != nil {
		return err
	}
	return s.printGroup(resp.GetGroup())
}

// GroupsListCmd is `oriel groups list`.
type GroupsListCmd struct {
	Tenant string      `arg:"" help:"The tenant: acme or tenants/acme."`
	Paging pagingFlags `embed:""`
}

// Run lists the tenant's groups.
func (c *GroupsListCmd) Run(kctx *kong.Context, s *Session) error {
	return listing(kctx, s, c.Paging, "groups",
		func(ctx context.Context, size int32, token string) ([]*identityv1.Group, string, error) {
			resp, err := s.Client.ListGroups(ctx, &identityv1.ListGroupsRequest{Parent: tenantName(c.Tenant), PageSize: size, PageToken: token})
			return resp.GetGroups(), resp.GetNextPageToken(), err
		},
		func(items []*identityv1.Group, next string) proto.Message {
			return &identityv1.ListGroupsResponse{Groups: items, NextPageToken: next}
		},
		printGroupTable)
}

// GroupsDeleteCmd is `oriel groups delete`.
type GroupsDeleteCmd struct{ groupArg }

// Run deletes the group.
func (c *GroupsDeleteCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.DeleteGroup(ctx, &identityv1.DeleteGroupRequest{Name: c.Name})
	if err != nil {
		return err
	}
	return s.done(resp, "Deleted %s.", c.Name)
}

// RoleBindingsCmd is `oriel role-bindings`.
type RoleBindingsCmd struct {
	ClientFlags `embed:""`

	Create RoleBindingsCreateCmd `cmd:"" help:"Bind a tenant role to a user or a group; it applies from their next token exchange."`
	Get    RoleBindingsGetCmd    `cmd:"" help:"Show a role binding."`
	List   RoleBindingsListCmd   `cmd:"" help:"List a tenant's role bindings."`
	Delete RoleBindingsDeleteCmd `cmd:"" help:"Delete a role binding; it applies from the next token exchange."`
}

// roleBindingArg is the positional name of a role binding.
type roleBindingArg struct {
	Name string `arg:"" help:"The role binding, e.g. tenants/acme/roleBindings/b7x…"`
}

// roles maps the CLI's role names to the enum.
var roles = map[string]identityv1.Role{
	"admin": identityv1.Role_ROLE_ADMIN, "developer": identityv1.Role_ROLE_DEVELOPER, "viewer": identityv1.Role_ROLE_VIEWER,
}

// RoleBindingsCreateCmd is `oriel role-bindings create`.
type RoleBindingsCreateCmd struct {
	Tenant string `arg:"" help:"The tenant: acme or tenants/acme."`
	User   string `name:"user" xor:"member" placeholder:"USER" env:"-" help:"The user: its name or id in the tenant."`
	Group  string `name:"group" xor:"member" placeholder:"GROUP" env:"-" help:"The group: its name or id in the tenant, e.g. analysts."`
	Role   string `name:"role" required:"" enum:"admin,developer,viewer" placeholder:"ROLE" env:"-" help:"The role: admin, developer or viewer."`
	ID     string `name:"id" placeholder:"ID" env:"-" help:"The binding's id (last segment of its name); generated when empty."`
}

// Validate asks for exactly one member.
func (c *RoleBindingsCreateCmd) Validate() error {
	if c.User == "" && c.Group == "" {
		return errors.New("missing flags: --user=USER or --group=GROUP")
	}
	return nil
}

// Run creates the binding.
func (c *RoleBindingsCreateCmd) Run(s *Session) error {
	b := &identityv1.RoleBinding{Role: roles[c.Role]}
	if c.User != "" {
		b.User = childName(c.Tenant, "users", c.User)
	} else {
		b.Group = childName(c.Tenant, "groups", c.Group)
	}
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.CreateRoleBinding(ctx, &identityv1.CreateRoleBindingRequest{
		Parent: tenantName(c.Tenant), RoleBindingId: c.ID, RoleBinding: b,
	})
	if err != nil {
		return err
	}
	return s.printRoleBinding(resp.GetRoleBinding())
}

// RoleBindingsGetCmd is `oriel role-bindings get`.
type RoleBindingsGetCmd struct{ roleBindingArg }

// Run shows the binding.
func (c *RoleBindingsGetCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.GetRoleBinding(ctx, &identityv1.GetRoleBindingRequest{Name: c.Name})
	if err != nil {
		return err
	}
	return s.printRoleBinding(resp.GetRoleBinding())
}

// RoleBindingsListCmd is `oriel role-bindings list`.
type RoleBindingsListCmd struct {
	Tenant string      `arg:"" help:"The tenant: acme or tenants/acme."`
	Paging pagingFlags `embed:""`
}

// Run lists the tenant's bindings.
func (c *RoleBindingsListCmd) Run(kctx *kong.Context, s *Session) error {
	return listing(kctx, s, c.Paging, "roleBindings",
		func(ctx context.Context, size int32, token string) ([]*identityv1.RoleBinding, string, error) {
			resp, err := s.Client.ListRoleBindings(ctx, &identityv1.ListRoleBindingsRequest{Parent: tenantName(c.Tenant), PageSize: size, PageToken: token})
			return resp.GetRoleBindings(), resp.GetNextPageToken(), err
		},
		func(items []*identityv1.RoleBinding, next string) proto.Message {
			return &identityv1.ListRoleBindingsResponse{RoleBindings: items, NextPageToken: next}
		},
		printRoleBindingTable)
}

// RoleBindingsDeleteCmd is `oriel role-bindings delete`.
type RoleBindingsDeleteCmd struct{ roleBindingArg }

// Run deletes the binding.
func (c *RoleBindingsDeleteCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.DeleteRoleBinding(ctx, &identityv1.DeleteRoleBindingRequest{Name: c.Name})
	if err != nil {
		return err
	}
	return s.done(resp, "Deleted %s.", c.Name)
}
