package commands

import (
	"context"
	"fmt"
	"strings"

	"github.com/alecthomas/kong"
	"google.golang.org/protobuf/proto"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
)

// TemplatesCmd is `oriel templates`.
type TemplatesCmd struct {
	ClientFlags `embed:""`

	Create   TemplatesCreateCmd  `cmd:"" help:"Create a template: an app you deploy to many tenants (platform key)."`
	Get      TemplatesGetCmd     `cmd:"" help:"Show a template."`
	List     TemplatesListCmd    `cmd:"" help:"List templates."`
	Versions TemplateVersionsCmd `cmd:"" help:"Add and show a template's immutable versions, which rollouts deploy."`
	Drift    TemplatesDriftCmd   `cmd:"" help:"List the tenants whose app deployed from a template was edited since (a rollout skips them unless told to overwrite)."`
}

// templateName accepts `sales` or `templates/sales`.
func templateName(arg string) string { return topName("templates", arg) }

// templateArg is the positional name of a template.
type templateArg struct {
	Template string `arg:"" name:"template" help:"The template: sales or templates/sales."`
}

// TemplatesCreateCmd is `oriel templates create`.
type TemplatesCreateCmd struct {
	ID          string `arg:"" help:"The template's id: 3 to 63 lowercase letters, digits and hyphens; also the id of the apps rollouts deploy, unless they say otherwise."`
	DisplayName string `name:"display-name" required:"" placeholder:"NAME" env:"-" help:"Human-readable name, 1 to 200 characters."`
	Description string `name:"description" placeholder:"TEXT" env:"-" help:"A description, at most 2000 characters."`
}

// Run creates the template.
func (c *TemplatesCreateCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.CreateTemplate(ctx, &contentv1.CreateTemplateRequest{
		TemplateId: c.ID, Template: &contentv1.Template{DisplayName: c.DisplayName, Description: c.Description},
	})
	if err != nil {
		return err
	}
	return s.printTemplate(resp.GetTemplate())
}

// TemplatesGetCmd is `oriel templates get`.
type TemplatesGetCmd struct{ templateArg }

// Run shows the template.
func (c *TemplatesGetCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.GetTemplate(ctx, &contentv1.GetTemplateRequest{Name: templateName(c.Template)})
	if err != nil {
		return err
	}
	return s.printTemplate(resp.GetTemplate())
}

// TemplatesListCmd is `oriel templates list`.
type TemplatesListCmd struct {
	Paging pagingFlags `embed:""`
}

// Run lists the templates.
func (c *TemplatesListCmd) Run(kctx *kong.Context, s *Session) error {
	return listing(kctx, s, c.Paging, "templates",
		func(ctx context.Context, size int32, token string) ([]*contentv1.Template, string, error) {
			resp, err := s.Client.ListTemplates(ctx, &contentv1.ListTemplatesRequest{PageSize: size, PageToken: token})
			return resp.GetTemplates(), resp.GetNextPageToken(), err
		},
		func(items []*contentv1.Template, next string) proto.Message {
			return &contentv1.ListTemplatesResponse{Templates: items, NextPageToken: next}
		},
		printTemplateTable)
}

// TemplatesDriftCmd is `oriel templates drift`.
type TemplatesDriftCmd struct {
	templateArg
	Paging pagingFlags `embed:""`
}

// Run lists the drifted apps.
func (c *TemplatesDriftCmd) Run(kctx *kong.Context, s *Session) error {
	return listing(kctx, s, c.Paging, "drifts",
		func(ctx context.Context, size int32, token string) ([]*contentv1.Drift, string, error) {
			resp, err := s.Client.ListDrift(ctx, &contentv1.ListDriftRequest{Parent: templateName(c.Template), PageSize: size, PageToken: token})
			return resp.GetDrifts(), resp.GetNextPageToken(), err
		},
		func(items []*contentv1.Drift, next string) proto.Message {
			return &contentv1.ListDriftResponse{Drifts: items, NextPageToken: next}
		},
		printDriftTable)
}

// TemplateVersionsCmd is `oriel templates versions`.
type TemplateVersionsCmd struct {
	Create TemplateVersionsCreateCmd `cmd:"" help:"Add an immutable version: the app's definition and the variables each tenant fills in."`
	Get    TemplateVersionsGetCmd    `cmd:"" help:"Show a template version."`
	List   TemplateVersionsListCmd   `cmd:"" help:"List a template's versions, newest first."`
}

// TemplateVersionsCreateCmd is `oriel templates versions create`.
type TemplateVersionsCreateCmd struct {
	templateArg
	Version    string          `arg:"" help:"The version's id, e.g. v1 or 2026-11-27: lowercase letters, digits, dots and hyphens."`
	Title      string          `name:"title" required:"" placeholder:"TITLE" env:"-" help:"The title of the apps it deploys, 1 to 200 characters."`
	Definition definitionFlags `embed:""`
	Variable   []string        `name:"variable" sep:"none" placeholder:"NAME[:required][=DEFAULT]" env:"-" help:"A variable the load script reads as $(NAME), which each rollout fills in per tenant (repeatable): schema:required, or region=eu-west for an optional one with a default."`
	Notes      string          `name:"notes" placeholder:"TEXT" env:"-" help:"Release notes, at most 2000 characters."`
}

// parseVariable reads NAME[:required][=DEFAULT].
func parseVariable(spec string) (*contentv1.TemplateVariable, error) {
	head, def, hasDefault := strings.Cut(spec, "=")
	name, modifier, hasModifier := strings.Cut(head, ":")
	v := &contentv1.TemplateVariable{Name: name, DefaultValue: def}
	switch {
	case name == "":
		return nil, fmt.Errorf("--variable %q: no name; want NAME[:required][=DEFAULT], e.g. schema:required", spec)
	case hasModifier && modifier != "required":
		return nil, fmt.Errorf("--variable %q: %q is not a modifier; want NAME[:required][=DEFAULT], e.g. schema:required", spec, modifier)
	case hasDefault && def == "":
		return nil, fmt.Errorf("--variable %q: an empty default is no default; leave out the =", spec)
	}
	v.Required = hasModifier
	return v, nil
}

// variables reads every --variable.
func (c *TemplateVersionsCreateCmd) variables() ([]*contentv1.TemplateVariable, error) {
	var out []*contentv1.TemplateVariable
	seen := map[string]bool{}
	for _, spec := range c.Variable {
		v, err := parseVariable(spec)
		if err != nil {
			return nil, err
		}
		if seen[v.GetName()] {
			return nil, fmt.Errorf("--variable %q: %s is given twice", spec, v.GetName())
		}
		seen[v.GetName()] = true
		out = append(out, v)
	}
	return out, nil
}

// Validate checks the variables' syntax and asks for a definition, before anything is sent.
func (c *TemplateVersionsCreateCmd) Validate() error {
	if c.Definition.DefinitionFile == "" {
		return fmt.Errorf("missing flags: --definition-file=FILE")
	}
	_, err := c.variables()
	return err
}

// Run creates the version.
func (c *TemplateVersionsCreateCmd) Run(s *Session) error {
	vars, err := c.variables()
	if err != nil {
		return err
	}
	def, err := c.Definition.definition()
	if err != nil {
		return err
	}
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.CreateTemplateVersion(ctx, &contentv1.CreateTemplateVersionRequest{
		Parent: templateName(c.Template), VersionId: c.Version,
		TemplateVersion: &contentv1.TemplateVersion{Title: c.Title, Definition: def, Variables: vars, Notes: c.Notes},
	})
	if err != nil {
		return err
	}
	return s.printTemplateVersion(resp.GetTemplateVersion())
}

// TemplateVersionsGetCmd is `oriel templates versions get`.
type TemplateVersionsGetCmd struct {
	Name string `arg:"" help:"The version, e.g. templates/sales/versions/v1."`
}

// Run shows the version.
func (c *TemplateVersionsGetCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.GetTemplateVersion(ctx, &contentv1.GetTemplateVersionRequest{Name: c.Name})
	if err != nil {
		return err
	}
	return s.printTemplateVersion(resp.GetTemplateVersion())
}

// TemplateVersionsListCmd is `oriel templates versions list`.
type TemplateVersionsListCmd struct {
	templateArg
	Paging pagingFlags `embed:""`
}

// Run lists the versions.
func (c *TemplateVersionsListCmd) Run(kctx *kong.Context, s *Session) error {
	return listing(kctx, s, c.Paging, "templateVersions",
		func(ctx context.Context, size int32, token string) ([]*contentv1.TemplateVersion, string, error) {
			resp, err := s.Client.ListTemplateVersions(ctx, &contentv1.ListTemplateVersionsRequest{Parent: templateName(c.Template), PageSize: size, PageToken: token})
			return resp.GetTemplateVersions(), resp.GetNextPageToken(), err
		},
		func(items []*contentv1.TemplateVersion, next string) proto.Message {
			return &contentv1.ListTemplateVersionsResponse{TemplateVersions: items, NextPageToken: next}
		},
		printTemplateVersionTable)
}
