package commands

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/alecthomas/kong"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
)

// AppsCmd is `oriel apps`.
type AppsCmd struct {
	ClientFlags `embed:""`

	Create    AppsCreateCmd    `cmd:"" help:"Create an app (a dashboard) in a space: its first revision."`
	Get       AppsGetCmd       `cmd:"" help:"Show an app at its latest revision."`
	List      AppsListCmd      `cmd:"" help:"List the apps of a tenant."`
	Update    AppsUpdateCmd    `cmd:"" help:"Save the fields named by the flags given, and only those, as a new revision."`
	Delete    AppsDeleteCmd    `cmd:"" help:"Delete an app softly: undelete restores it for 14 days."`
	Undelete  AppsUndeleteCmd  `cmd:"" help:"Restore a deleted app before it is purged."`
	Revisions AppsRevisionsCmd `cmd:"" help:"List an app's revisions, newest first."`
	Restore   AppsRestoreCmd   `cmd:"" help:"Make an old revision's content the app's latest, as a new revision."`
	Copy      AppsCopyCmd      `cmd:"" help:"Copy an app into a space (of another tenant too, with a platform key)."`
	Export    AppsExportCmd    `cmd:"" help:"Write an app as a self-contained JSON bundle (no credentials) that import reads."`
	Import    AppsImportCmd    `cmd:"" help:"Create an app from a bundle written by export."`
	Publish   AppsPublishCmd   `cmd:"" help:"Publish an app of a shared space into a managed space; publishing again updates it in place."`

	Reload     AppsReloadCmd     `cmd:"" help:"Run the app's load script into a new in-memory model; --wait follows it to the end."`
	Data       AppsDataCmd       `cmd:"" help:"Compute a chart of the app, or an ad-hoc table of measures by dimensions, over its loaded data."`
	Values     AppsValuesCmd     `cmd:"" help:"List a field's values with their states (selected, possible, alternative, excluded) and counts."`
	Model      AppsModelCmd      `cmd:"" help:"Describe the app's loaded data: tables and rows, fields and distinct values, memory."`
	Select     AppsSelectCmd     `cmd:"" help:"Select values of a field, in the API key's own session."`
	Clear      AppsClearCmd      `cmd:"" help:"Clear one field's selection, or every field's."`
	Back       AppsBackCmd       `cmd:"" help:"Step the selections back to before their last change."`
	Forward    AppsForwardCmd    `cmd:"" help:"Step the selections forward again after back."`
	Selections AppsSelectionsCmd `cmd:"" help:"Show the selections of the API key's own session."`
}

// appArg is the positional name of an app.
type appArg struct {
	Name string `arg:"" help:"The app, e.g. tenants/acme/apps/sales."`
}

// definitionFlags read an app's content from files, for apps and template versions.
type definitionFlags struct {
	DefinitionFile string `name:"definition-file" placeholder:"FILE" type:"path" env:"-" help:"An AppDefinition in JSON (the API's camelCase names): sheets of charts, loadScript, variables."`
	LoadScriptFile string `name:"load-script-file" placeholder:"FILE" type:"path" env:"-" help:"The load script, as text; replaces the definition's loadScript."`
}

// definition reads the files given into a definition; nil when neither is given.
func (f *definitionFlags) definition() (*contentv1.AppDefinition, error) {
	if f.DefinitionFile == "" && f.LoadScriptFile == "" {
		return nil, nil
	}
	def := &contentv1.AppDefinition{}
	if f.DefinitionFile != "" {
		if err := readProtoJSON(f.DefinitionFile, "--definition-file", "an AppDefinition", def); err != nil {
			return nil, err
		}
	}
	if f.LoadScriptFile != "" {
		script, err := os.ReadFile(f.LoadScriptFile)
		if err != nil {
			return nil, fmt.Errorf("--load-script-file: %w", err)
		}
		def.LoadScript = string(script)
	}
	return def, nil
}

// readProtoJSON reads a file of the API's JSON into m. Unknown fields are refused: in a
// file a person wrote, one is a typo that would otherwise be dropped without a word.
func readProtoJSON(path, flag, what string, m proto.Message) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%s: %w", flag, err)
	}
	if err := protojson.Unmarshal(b, m); err != nil {
		return fmt.Errorf("%s %s: not %s in JSON: %w", flag, path, what, err)
	}
	return nil
}

// AppsCreateCmd is `oriel apps create`.
type AppsCreateCmd struct {
	Tenant      string          `arg:"" help:"The tenant: acme or tenants/acme."`
	ID          string          `arg:"" help:"The app's id (last segment of its name): 3 to 63 lowercase letters, digits and hyphens."`
	Space       string          `name:"space" required:"" placeholder:"SPACE" env:"-" help:"The space it goes in: its id or name, e.g. sales."`
	Title       string          `name:"title" required:"" placeholder:"TITLE" env:"-" help:"The title, 1 to 200 characters."`
	Description string          `name:"description" placeholder:"TEXT" env:"-" help:"A description, at most 2000 characters."`
	Label       []string        `name:"label" sep:"none" placeholder:"KEY=VALUE" env:"-" help:"A label (repeatable)."`
	Definition  definitionFlags `embed:""`
}

// Validate checks the labels before anything is sent.
func (c *AppsCreateCmd) Validate() error {
	_, err := parseLabels(c.Label)
	return err
}

// Run creates the app.
func (c *AppsCreateCmd) Run(s *Session) error {
	labels, err := parseLabels(c.Label)
	if err != nil {
		return err
	}
	def, err := c.Definition.definition()
	if err != nil {
		return err
	}
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.CreateApp(ctx, &contentv1.CreateAppRequest{
		Parent: tenantName(c.Tenant),
		AppId:  c.ID,
		App: &contentv1.App{
			Title: c.Title, Description: c.Description, Space: childName(c.Tenant, "spaces", c.Space),
			Labels: labels, Definition: def,
		},
	})
	if err != nil {
		return err
	}
	return s.printApp(resp.GetApp())
}

// AppsGetCmd is `oriel apps get`.
type AppsGetCmd struct{ appArg }

// Run shows the app.
func (c *AppsGetCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.GetApp(ctx, &contentv1.GetAppRequest{Name: c.Name})
	if err != nil {
		return err
	}
	return s.printApp(resp.GetApp())
}

// AppsListCmd is `oriel apps list`.
type AppsListCmd struct {
	Tenant      string      `arg:"" help:"The tenant: acme or tenants/acme."`
	Space       string      `name:"space" placeholder:"SPACE" env:"-" help:"Only the apps of this space: its id or name."`
	ShowDeleted bool        `name:"show-deleted" env:"-" help:"Also list deleted apps that are not purged yet."`
	Paging      pagingFlags `embed:""`
}

// Run lists the tenant's apps.
func (c *AppsListCmd) Run(kctx *kong.Context, s *Session) error {
	space := ""
	if c.Space != "" {
		space = childName(c.Tenant, "spaces", c.Space)
	}
	return listing(kctx, s, c.Paging, "apps",
		func(ctx context.Context, size int32, token string) ([]*contentv1.App, string, error) {
			resp, err := s.Client.ListApps(ctx, &contentv1.ListAppsRequest{
				Parent: tenantName(c.Tenant), Space: space, ShowDeleted: c.ShowDeleted, PageSize: size, PageToken: token,
			})
			return resp.GetApps(), resp.GetNextPageToken(), err
		},
		func(items []*contentv1.App, next string) proto.Message {
			return &contentv1.ListAppsResponse{Apps: items, NextPageToken: next}
		},
		printAppTable)
}

// AppsUpdateCmd is `oriel apps update`.
type AppsUpdateCmd struct {
	appArg
	Title       string          `name:"title" placeholder:"TITLE" env:"-" help:"New title."`
	Description string          `name:"description" placeholder:"TEXT" env:"-" help:"New description (\"\" clears it)."`
	Label       []string        `name:"label" sep:"none" placeholder:"KEY=VALUE" env:"-" help:"A label (repeatable); replaces all labels with the ones given."`
	Definition  definitionFlags `embed:""`
	Etag        string          `name:"etag" placeholder:"ETAG" env:"-" help:"Save only if the app still has this etag (from get)."`
}

// appUpdatePaths maps each field flag to the update_mask path it changes. A load script
// alone changes only the script; a definition file replaces the whole definition.
var appUpdatePaths = []struct{ flag, path string }{
	{"title", "title"},
	{"description", "description"},
	{"label", "labels"},
	{"definition-file", "definition"},
}

// mask is the update_mask of exactly the field flags given.
func (c *AppsUpdateCmd) mask(given map[string]bool) []string {
	paths := maskOf(given, appUpdatePaths)
	if given["load-script-file"] && !given["definition-file"] {
		paths = append(paths, "definition.load_script")
	}
	return paths
}

// Validate refuses an update that would change nothing, before anything is sent.
func (c *AppsUpdateCmd) Validate(kctx *kong.Context) error {
	if len(c.mask(flagsGiven(kctx))) == 0 {
		return errors.New("nothing to update: give at least one of --title, --description, --label, --definition-file, --load-script-file")
	}
	_, err := parseLabels(c.Label)
	return err
}

// Run saves the fields of the flags given, with an update_mask naming exactly those.
func (c *AppsUpdateCmd) Run(kctx *kong.Context, s *Session) error {
	labels, err := parseLabels(c.Label)
	if err != nil {
		return err
	}
	def, err := c.Definition.definition()
	if err != nil {
		return err
	}
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.UpdateApp(ctx, &contentv1.UpdateAppRequest{
		App: &contentv1.App{
			Name: c.Name, Title: c.Title, Description: c.Description, Labels: labels, Definition: def, Etag: c.Etag,
		},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: c.mask(flagsGiven(kctx))},
	})
	if err != nil {
		return err
	}
	return s.printApp(resp.GetApp())
}

// AppsDeleteCmd is `oriel apps delete`.
type AppsDeleteCmd struct {
	appArg
	Etag string `name:"etag" placeholder:"ETAG" env:"-" help:"Delete only if the app still has this etag."`
}

// Run deletes the app softly and shows it, with its purge time.
func (c *AppsDeleteCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.DeleteApp(ctx, &contentv1.DeleteAppRequest{Name: c.Name, Etag: c.Etag})
	if err != nil {
		return err
	}
	return s.printApp(resp.GetApp())
}

// AppsUndeleteCmd is `oriel apps undelete`.
type AppsUndeleteCmd struct{ appArg }

// Run restores the app.
func (c *AppsUndeleteCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.UndeleteApp(ctx, &contentv1.UndeleteAppRequest{Name: c.Name})
	if err != nil {
		return err
	}
	return s.printApp(resp.GetApp())
}

// AppsRevisionsCmd is `oriel apps revisions`.
type AppsRevisionsCmd struct {
	appArg
	Paging pagingFlags `embed:""`
}

// Run lists the app's revisions.
func (c *AppsRevisionsCmd) Run(kctx *kong.Context, s *Session) error {
	return listing(kctx, s, c.Paging, "revisions",
		func(ctx context.Context, size int32, token string) ([]*contentv1.AppRevision, string, error) {
			resp, err := s.Client.ListAppRevisions(ctx, &contentv1.ListAppRevisionsRequest{Parent: c.Name, PageSize: size, PageToken: token})
			return resp.GetRevisions(), resp.GetNextPageToken(), err
		},
		func(items []*contentv1.AppRevision, next string) proto.Message {
			return &contentv1.ListAppRevisionsResponse{Revisions: items, NextPageToken: next}
		},
		printRevisionTable)
}

// AppsRestoreCmd is `oriel apps restore`.
type AppsRestoreCmd struct {
	Name string `arg:"" help:"The revision, e.g. tenants/acme/apps/sales/revisions/3 (from oriel apps revisions)."`
	Etag string `name:"etag" placeholder:"ETAG" env:"-" help:"Restore only if the app still has this etag."`
}

// Run restores the revision and shows the app at its new revision.
func (c *AppsRestoreCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.RestoreAppRevision(ctx, &contentv1.RestoreAppRevisionRequest{Name: c.Name, Etag: c.Etag})
	if err != nil {
		return err
	}
	return s.printApp(resp.GetApp())
}

// AppsCopyCmd is `oriel apps copy`.
type AppsCopyCmd struct {
	appArg
	ToSpace string `name:"to-space" required:"" placeholder:"SPACE" env:"-" help:"The space of the copy: its id in the app's tenant, or a space name (of another tenant with a platform key)."`
	ID      string `name:"id" placeholder:"ID" env:"-" help:"The copy's id; generated when empty."`
	Title   string `name:"title" placeholder:"TITLE" env:"-" help:"The copy's title; the original's when empty."`
}

// Run copies the app and shows the copy.
func (c *AppsCopyCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.CopyApp(ctx, &contentv1.CopyAppRequest{
		Name: c.Name, DestinationSpace: childName(tenantOf(c.Name), "spaces", c.ToSpace), AppId: c.ID, Title: c.Title,
	})
	if err != nil {
		return err
	}
	return s.printApp(resp.GetApp())
}

// AppsExportCmd is `oriel apps export`. Its file flag is not -o, which every client
// command has for --output already.
type AppsExportCmd struct {
	appArg
	File string `name:"file" short:"f" placeholder:"FILE" type:"path" env:"-" help:"Write the bundle to this file instead of stdout."`
}

// Run writes the bundle, which is JSON whatever --output says.
func (c *AppsExportCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.ExportApp(ctx, &contentv1.ExportAppRequest{Name: c.Name})
	if err != nil {
		return err
	}
	if c.File == "" {
		return printJSON(s.Stdout, resp.GetBundle())
	}
	f, err := os.Create(c.File)
	if err != nil {
		return err
	}
	if err := printJSON(f, resp.GetBundle()); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(s.Stderr, "Exported %s to %s.\n", c.Name, c.File)
	return nil
}

// AppsImportCmd is `oriel apps import`.
type AppsImportCmd struct {
	Tenant     string `arg:"" help:"The tenant: acme or tenants/acme."`
	Space      string `name:"space" required:"" placeholder:"SPACE" env:"-" help:"The space of the new app: its id or name."`
	BundleFile string `name:"bundle-file" required:"" placeholder:"FILE" type:"path" env:"-" help:"A bundle written by oriel apps export."`
	ID         string `name:"id" placeholder:"ID" env:"-" help:"The new app's id; generated when empty."`
}

// Run imports the bundle and shows the new app.
func (c *AppsImportCmd) Run(s *Session) error {
	bundle := &contentv1.AppBundle{}
	if err := readProtoJSON(c.BundleFile, "--bundle-file", "an app bundle", bundle); err != nil {
		return err
	}
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.ImportApp(ctx, &contentv1.ImportAppRequest{
		Parent: tenantName(c.Tenant), Bundle: bundle, Space: childName(c.Tenant, "spaces", c.Space), AppId: c.ID,
	})
	if err != nil {
		return err
	}
	return s.printApp(resp.GetApp())
}

// AppsPublishCmd is `oriel apps publish`.
type AppsPublishCmd struct {
	appArg
	ToSpace string `name:"to-space" placeholder:"SPACE" env:"-" help:"The managed space to publish into: its id or name. Publishing again may leave it out: the published app stays where it is."`
}

// Run publishes the app and shows the published copy.
func (c *AppsPublishCmd) Run(s *Session) error {
	target := ""
	if c.ToSpace != "" {
		target = childName(tenantOf(c.Name), "spaces", c.ToSpace)
	}
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.PublishApp(ctx, &contentv1.PublishAppRequest{Name: c.Name, TargetSpace: target})
	if err != nil {
		return err
	}
	return s.printApp(resp.GetApp())
}
