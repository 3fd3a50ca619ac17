package commands

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/alecthomas/kong"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
)

// SpacesCmd is `oriel spaces`.
type SpacesCmd struct {
	ClientFlags `embed:""`

	Create  SpacesCreateCmd `cmd:"" help:"Create a space: shared (authors work together) or managed (published apps, read-only for consumers)."`
	Get     SpacesGetCmd    `cmd:"" help:"Show a space."`
	List    SpacesListCmd   `cmd:"" help:"List the spaces of a tenant."`
	Update  SpacesUpdateCmd `cmd:"" help:"Change the fields named by the flags given, and only those."`
	Delete  SpacesDeleteCmd `cmd:"" help:"Delete an empty space."`
	Members SpaceMembersCmd `cmd:"" help:"Give users and groups roles in a space: consumer, contributor, producer or facilitator."`
}

// spaceTypes maps the CLI's space types to the enum.
var spaceTypes = map[string]contentv1.Space_Type{
	"shared": contentv1.Space_TYPE_SHARED, "managed": contentv1.Space_TYPE_MANAGED,
}

// spaceRoles maps the CLI's space roles to the enum.
var spaceRoles = map[string]contentv1.SpaceRole{
	"consumer": contentv1.SpaceRole_SPACE_ROLE_CONSUMER, "contributor": contentv1.SpaceRole_SPACE_ROLE_CONTRIBUTOR,
	"producer": contentv1.SpaceRole_SPACE_ROLE_PRODUCER, "facilitator": contentv1.SpaceRole_SPACE_ROLE_FACILITATOR,
}

// tenantOf is the tenant part of a resource name in a tenant (`tenants/acme/spaces/x` →
// acme), or "" when the name has none.
func tenantOf(name string) string {
	parts := strings.Split(name, "/")
	if len(parts) < 2 || parts[0] != "tenants" {
		return ""
	}
	return parts[1]
}

// spaceArg is the positional name of a space.
type spaceArg struct {
	Name string `arg:"" help:"The space, e.g. tenants/acme/spaces/sales."`
}

// SpacesCreateCmd is `oriel spaces create`.
type SpacesCreateCmd struct {
	Tenant      string `arg:"" help:"The tenant: acme or tenants/acme."`
	ID          string `arg:"" help:"The space's id (last segment of its name): 3 to 63 lowercase letters, digits and hyphens."`
	DisplayName string `name:"display-name" required:"" placeholder:"NAME" env:"-" help:"Human-readable name, 1 to 200 characters."`
	Type        string `name:"type" required:"" enum:"shared,managed" placeholder:"TYPE" env:"-" help:"shared (authors work together) or managed (published apps; rollouts deploy here); cannot change later."`
	Description string `name:"description" placeholder:"TEXT" env:"-" help:"What the space is for, at most 2000 characters."`
}

// Run creates the space.
func (c *SpacesCreateCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.CreateSpace(ctx, &contentv1.CreateSpaceRequest{
		Parent:  tenantName(c.Tenant),
		SpaceId: c.ID,
		Space:   &contentv1.Space{DisplayName: c.DisplayName, Description: c.Description, Type: spaceTypes[c.Type]},
	})
	if err != nil {
		return err
	}
	return s.printSpace(resp.GetSpace())
}

// SpacesGetCmd is `oriel spaces get`.
type SpacesGetCmd struct{ spaceArg }

// Run shows the space.
func (c *SpacesGetCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.GetSpace(ctx, &contentv1.GetSpaceRequest{Name: c.Name})
	if err != nil {
		return err
	}
	return s.printSpace(resp.GetSpace())
}

// SpacesListCmd is `oriel spaces list`.
type SpacesListCmd struct {
	Tenant string      `arg:"" help:"The tenant: acme or tenants/acme."`
	Paging pagingFlags `embed:""`
}

// Run lists the tenant's spaces.
func (c *SpacesListCmd) Run(kctx *kong.Context, s *Session) error {
	return listing(kctx, s, c.Paging, "spaces",
		func(ctx context.Context, size int32, token string) ([]*contentv1.Space, string, error) {
			resp, err := s.Client.ListSpaces(ctx, &contentv1.ListSpacesRequest{Parent: tenantName(c.Tenant), PageSize: size, PageToken: token})
			return resp.GetSpaces(), resp.GetNextPageToken(), err
		},
		func(items []*contentv1.Space, next string) proto.Message {
			return &contentv1.ListSpacesResponse{Spaces: items, NextPageToken: next}
		},
		printSpaceTable)
}

// SpacesUpdateCmd is `oriel spaces update`.
type SpacesUpdateCmd struct {
	spaceArg
	DisplayName string `name:"display-name" placeholder:"NAME" env:"-" help:"New human-readable name."`
	Description string `name:"description" placeholder:"TEXT" env:"-" help:"New description (\"\" clears it)."`
	Etag        string `name:"etag" placeholder:"ETAG" env:"-" help:"Update only if the space still has this etag (from get)."`
}

// spaceUpdatePaths maps each field flag to the update_mask path it changes.
var spaceUpdatePaths = []struct{ flag, path string }{
	{"display-name", "display_name"},
	{"description", "description"},
}

// Validate refuses an update that would change nothing.
func (c *SpacesUpdateCmd) Validate(kctx *kong.Context) error {
	if len(maskOf(flagsGiven(kctx), spaceUpdatePaths)) == 0 {
		return errors.New("nothing to update: give --display-name or --description")
	}
	return nil
}

// Run sends the fields of the flags given, with an update_mask naming exactly those.
func (c *SpacesUpdateCmd) Run(kctx *kong.Context, s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.UpdateSpace(ctx, &contentv1.UpdateSpaceRequest{
		Space:      &contentv1.Space{Name: c.Name, DisplayName: c.DisplayName, Description: c.Description, Etag: c.Etag},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: maskOf(flagsGiven(kctx), spaceUpdatePaths)},
	})
	if err != nil {
		return err
	}
	return s.printSpace(resp.GetSpace())
}

// maskOf is the update_mask of exactly the field flags given, each path once.
func maskOf(given map[string]bool, paths []struct{ flag, path string }) []string {
	var out []string
	for _, u := range paths {
		if given[u.flag] && !slices.Contains(out, u.path) {
			out = append(out, u.path)
		}
	}
	return out
}

// SpacesDeleteCmd is `oriel spaces delete`.
type SpacesDeleteCmd struct {
	spaceArg
	Etag string `name:"etag" placeholder:"ETAG" env:"-" help:"Delete only if the space still has this etag."`
}

// Run deletes the space.
func (c *SpacesDeleteCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.DeleteSpace(ctx, &contentv1.DeleteSpaceRequest{Name: c.Name, Etag: c.Etag})
	if err != nil {
		return err
	}
	return s.done(resp, "Deleted %s.", c.Name)
}

// SpaceMembersCmd is `oriel spaces members`.
type SpaceMembersCmd struct {
	Add    SpaceMembersAddCmd    `cmd:"" help:"Give a user or a group a role in a space (replacing the role it had)."`
	List   SpaceMembersListCmd   `cmd:"" help:"List a space's members."`
	Remove SpaceMembersRemoveCmd `cmd:"" help:"Remove a member from a space."`
}

// SpaceMembersAddCmd is `oriel spaces members add`.
type SpaceMembersAddCmd struct {
	Space string `arg:"" help:"The space, e.g. tenants/acme/spaces/sales."`
	User  string `name:"user" xor:"member" placeholder:"USER" env:"-" help:"The user: its name or id in the space's tenant."`
	Group string `name:"group" xor:"member" placeholder:"GROUP" env:"-" help:"The group: its name or id in the space's tenant, e.g. analysts."`
	Role  string `name:"role" required:"" enum:"consumer,contributor,producer,facilitator" placeholder:"ROLE" env:"-" help:"consumer (views), contributor (adds and edits its own apps), producer (edits every app) or facilitator (also manages the space and its members)."`
}

// Validate asks for exactly one member.
func (c *SpaceMembersAddCmd) Validate() error {
	if c.User == "" && c.Group == "" {
		return errors.New("missing flags: --user=USER or --group=GROUP")
	}
	return nil
}

// Run adds the member.
func (c *SpaceMembersAddCmd) Run(s *Session) error {
	tenant := tenantOf(c.Space)
	m := &contentv1.SpaceMember{Role: spaceRoles[c.Role]}
	if c.User != "" {
		m.User = childName(tenant, "users", c.User)
	} else {
		m.Group = childName(tenant, "groups", c.Group)
	}
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.CreateSpaceMember(ctx, &contentv1.CreateSpaceMemberRequest{Parent: c.Space, SpaceMember: m})
	if err != nil {
		return err
	}
	return s.printSpaceMember(resp.GetSpaceMember())
}

// SpaceMembersListCmd is `oriel spaces members list`.
type SpaceMembersListCmd struct {
	Space  string      `arg:"" help:"The space, e.g. tenants/acme/spaces/sales."`
	Paging pagingFlags `embed:""`
}

// Run lists the space's members.
func (c *SpaceMembersListCmd) Run(kctx *kong.Context, s *Session) error {
	return listing(kctx, s, c.Paging, "spaceMembers",
		func(ctx context.Context, size int32, token string) ([]*contentv1.SpaceMember, string, error) {
			resp, err := s.Client.ListSpaceMembers(ctx, &contentv1.ListSpaceMembersRequest{Parent: c.Space, PageSize: size, PageToken: token})
			return resp.GetSpaceMembers(), resp.GetNextPageToken(), err
		},
		func(items []*contentv1.SpaceMember, next string) proto.Message {
			return &contentv1.ListSpaceMembersResponse{SpaceMembers: items, NextPageToken: next}
		},
		printSpaceMemberTable)
}

// SpaceMembersRemoveCmd is `oriel spaces members remove`.
type SpaceMembersRemoveCmd struct {
	Name string `arg:"" help:"The member, e.g. tenants/acme/spaces/sales/members/g-analysts (from oriel spaces members list)."`
}

// Run removes the member.
func (c *SpaceMembersRemoveCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.DeleteSpaceMember(ctx, &contentv1.DeleteSpaceMemberRequest{Name: c.Name})
	if err != nil {
		return err
	}
	return s.done(resp, "Removed %s.", c.Name)
}
