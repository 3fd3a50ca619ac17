package api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/pagination"
	"github.com/oriel-dev/oriel/services/content/internal/script"
	"github.com/oriel-dev/oriel/services/content/internal/store"
)

// TemplateServer implements TemplateService. Templates belong to the ISV, not to a
// tenant, so every method is for platform service accounts only.
type TemplateServer struct {
	contentv1.UnimplementedTemplateServiceServer
	*Server
}

// requirePlatform lets platform service accounts through: with content.write to change
// (write true), content.read or content.write to read. Tenant service accounts and embed
// users are PERMISSION_DENIED rather than NOT_FOUND: platform resources are not a
// tenant's secret, they are simply not theirs to use.
func requirePlatform(ctx context.Context, write bool, what string) error {
	if caller(ctx).CanUsePlatform(write) {
		return nil
	}
	scope := "content.read"
	if write {
		scope = "content.write"
	}
	return denied(what + ": this needs a platform credential with " + scope)
}

// CreateTemplate creates a template without versions.
func (s TemplateServer) CreateTemplate(ctx context.Context, req *contentv1.CreateTemplateRequest) (*contentv1.CreateTemplateResponse, error) {
	if err := requirePlatform(ctx, true, "create templates"); err != nil {
		return nil, err
	}
	name := store.TemplateName(req.GetTemplateId())
	now := timestamppb.New(s.clock())
	t := &contentv1.Template{
		Name:        name,
		DisplayName: req.GetTemplate().GetDisplayName(),
		Description: req.GetTemplate().GetDescription(),
		CreateTime:  now,
		UpdateTime:  now,
	}
	err := s.store.ReadWriteTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.CreateTemplate(ctx, req.GetTemplateId(), t)
	})
	if err != nil {
		return nil, s.toStatus(ctx, err, name)
	}
	return &contentv1.CreateTemplateResponse{Template: t}, nil
}

// GetTemplate returns a template with its latest version's name.
func (s TemplateServer) GetTemplate(ctx context.Context, req *contentv1.GetTemplateRequest) (*contentv1.GetTemplateResponse, error) {
	if err := requirePlatform(ctx, false, "read templates"); err != nil {
		return nil, err
	}
	t, err := s.store.GetTemplate(ctx, segments(req.GetName())["templates"])
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetName())
	}
	return &contentv1.GetTemplateResponse{Template: t}, nil
}

// ListTemplates lists templates by name.
func (s TemplateServer) ListTemplates(ctx context.Context, req *contentv1.ListTemplatesRequest) (*contentv1.ListTemplatesResponse, error) {
	if err := requirePlatform(ctx, false, "read templates"); err != nil {
		return nil, err
	}
	page, size, err := listPage(req, req.GetPageToken(), req.GetPageSize())
	if err != nil {
		return nil, err
	}
	list, err := s.store.ListTemplates(ctx, page)
	if err != nil {
		return nil, s.toStatus(ctx, err, "templates")
	}
	resp := &contentv1.ListTemplatesResponse{}
	resp.Templates, resp.NextPageToken = trimPage(req, list, size, func(t *contentv1.Template) string { return segments(t.GetName())["templates"] })
	return resp, nil
}

// CreateTemplateVersion adds an immutable version: a version id, once used, keeps its
// content for good (ALREADY_EXISTS on reuse), so a rollout of it always means the same
// thing.
func (s TemplateServer) CreateTemplateVersion(ctx context.Context, req *contentv1.CreateTemplateVersionRequest) (*contentv1.CreateTemplateVersionResponse, error) {
	if err := requirePlatform(ctx, true, "create template versions"); err != nil {
		return nil, err
	}
	in := req.GetTemplateVersion()
	if violations := checkTemplateVersion(in); len(violations) > 0 {
		return nil, apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, violations...)
	}
	template := segments(req.GetParent())["templates"]
	name := store.TemplateVersionName(template, req.GetVersionId())
	v := &contentv1.TemplateVersion{
		Name:       name,
		Title:      in.GetTitle(),
		Definition: in.GetDefinition(),
		Variables:  in.GetVariables(),
		Notes:      in.GetNotes(),
		CreateTime: timestamppb.New(s.clock()),
	}
	err := s.store.ReadWriteTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.CreateTemplateVersion(ctx, template, req.GetVersionId(), v)
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, s.toStatus(ctx, err, req.GetParent())
	case err != nil:
		return nil, s.toStatus(ctx, err, name)
	}
	return &contentv1.CreateTemplateVersionResponse{TemplateVersion: v}, nil
}

// GetTemplateVersion returns a version.
func (s TemplateServer) GetTemplateVersion(ctx context.Context, req *contentv1.GetTemplateVersionRequest) (*contentv1.GetTemplateVersionResponse, error) {
	if err := requirePlatform(ctx, false, "read templates"); err != nil {
		return nil, err
	}
	ids := segments(req.GetName())
	v, err := s.store.GetTemplateVersion(ctx, ids["templates"], ids["versions"])
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetName())
	}
	return &contentv1.GetTemplateVersionResponse{TemplateVersion: v}, nil
}

// ListTemplateVersions lists a template's versions, newest first.
func (s TemplateServer) ListTemplateVersions(ctx context.Context, req *contentv1.ListTemplateVersionsRequest) (*contentv1.ListTemplateVersionsResponse, error) {
	if err := requirePlatform(ctx, false, "read templates"); err != nil {
		return nil, err
	}
	template := segments(req.GetParent())["templates"]
	page, size, err := listPage(req, req.GetPageToken(), req.GetPageSize())
	if err != nil {
		return nil, err
	}
	// The store answers ErrNotFound for a missing template: NOT_FOUND, not an empty list.
	list, err := s.store.ListTemplateVersions(ctx, template, page)
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetParent())
	}
	resp := &contentv1.ListTemplateVersionsResponse{}
	resp.TemplateVersions, resp.NextPageToken = trimPage(req, list, size, func(v *contentv1.TemplateVersion) string { return segments(v.GetName())["versions"] })
	return resp, nil
}

// ListDrift lists the deployed apps of a template edited since their rollout.
func (s TemplateServer) ListDrift(ctx context.Context, req *contentv1.ListDriftRequest) (*contentv1.ListDriftResponse, error) {
	if err := requirePlatform(ctx, false, "read templates"); err != nil {
		return nil, err
	}
	template := segments(req.GetParent())["templates"]
	page, size, err := listPage(req, req.GetPageToken(), req.GetPageSize())
	if err != nil {
		return nil, err
	}
	// A missing parent is NOT_FOUND, not an empty list.
	if _, err := s.store.GetTemplate(ctx, template); err != nil {
		return nil, s.toStatus(ctx, err, req.GetParent())
	}
	list, err := s.store.ListDrift(ctx, template, page)
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetParent())
	}
	resp := &contentv1.ListDriftResponse{}
	// Drifts are keyed by the whole app name: app ids repeat across tenants.
	resp.Drifts, resp.NextPageToken = trimPage(req, list, size, func(d *contentv1.Drift) string { return d.GetApp() })
	return resp, nil
}

// checkTemplateVersion finds what protovalidate cannot: a load script expanding a
// variable that nobody will ever give a value (every tenant's reload would fail), and
// variables declared twice (which value wins would be arbitrary). Expansions are found
// as the script language finds them (script.References): in every statement, strings
// included, never in comments; a variable the script sets itself before using it needs
// no declaration.
func checkTemplateVersion(v *contentv1.TemplateVersion) []apierr.FieldViolation {
	var out []apierr.FieldViolation
	declared := map[string]bool{}
	var duplicates []string
	for _, variable := range v.GetVariables() {
		if declared[variable.GetName()] && !slices.Contains(duplicates, variable.GetName()) {
			duplicates = append(duplicates, variable.GetName())
		}
		declared[variable.GetName()] = true
	}
	if len(duplicates) > 0 {
		out = append(out, apierr.FieldViolation{
			Field:       "template_version.variables",
			Description: "declares " + quotedNames(duplicates) + " more than once; each variable name must be unique",
		})
	}
	if len(v.GetDefinition().GetVariables()) > 0 {
		out = append(out, apierr.FieldViolation{
			Field:       "template_version.definition.variables",
			Description: "must be empty in a template version: declare the variables in template_version.variables, with their defaults",
		})
	}
	refs, err := script.References(v.GetDefinition().GetLoadScript())
	if err != nil {
		// A script that does not parse is the reload's to report, with its line and
		// column, as for an app's own script; the version is kept as written.
		return out
	}
	var undeclared []string
	for _, name := range refs {
		if !declared[name] {
			undeclared = append(undeclared, name)
		}
	}
	if len(undeclared) > 0 {
		sort.Strings(undeclared)
		out = append(out, apierr.FieldViolation{
			Field: "template_version.definition.load_script",
			Description: fmt.Sprintf("references %s, not declared in template_version.variables (nor SET or LET in the script); declare %s",
				strings.Join(asExpansions(undeclared), ", "), itOrThem(len(undeclared))),
		})
	}
	return out
}

// asExpansions writes variable names as the script does: `$(name)`.
func asExpansions(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "$(" + n + ")"
	}
	return out
}

func quotedNames(names []string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(quoted, ", ")
}

func itOrThem(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

// listPage reads a list request's page token and size into a store page, asking for one
// item more than the page holds to tell whether there is a next page.
func listPage(req proto.Message, token string, size int32) (store.Page, int, error) {
	after, err := pagination.Decode(req, token)
	if err != nil {
		return store.Page{}, 0, err
	}
	n := pagination.PageSize(size)
	return store.Page{AfterID: after, Limit: n + 1}, n, nil
}

// trimPage cuts a listing read with listPage to size and makes the token that continues
// after its last item, whose key key gives.
func trimPage[T any](req proto.Message, list []T, size int, key func(T) string) ([]T, string) {
	if len(list) <= size {
		return list, ""
	}
	list = list[:size]
	return list, pagination.Encode(req, key(list[size-1]))
}
