// Package validation runs the protovalidate rules written in Oriel's protos on every
// request, before any handler code runs, and turns violations into INVALID_ARGUMENT with a
// BadRequest naming each field by its path in the request (e.g. "tenant.hostnames[0]").
//
// Update requests are validated against their update_mask: only the fields being changed
// must obey the resource's rules, so a PATCH of display_name is not refused because the
// request leaves hostnames empty.
package validation

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"

	"buf.build/go/protovalidate"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
)

// Validator validates requests.
type Validator struct {
	v   protovalidate.Validator
	log *slog.Logger
}

// New returns a Validator; log receives rule compilation errors, which are our bugs.
func New(log *slog.Logger) (*Validator, error) {
	v, err := protovalidate.New()
	if err != nil {
		return nil, err
	}
	return &Validator{v: v, log: log}, nil
}

// Validate checks msg and returns nil or the INVALID_ARGUMENT status to send back.
func (v *Validator) Validate(ctx context.Context, msg proto.Message) error {
	var opts []protovalidate.ValidationOption
	if f := updateMaskFilter(msg); f != nil {
		opts = append(opts, protovalidate.WithFilter(f))
	}
	err := v.v.Validate(msg, opts...)
	if err == nil {
		return nil
	}
	var verr *protovalidate.ValidationError
	if !errors.As(err, &verr) {
		// A rule that does not compile or fails at run time is a bug in our protos.
		return apierr.Internal(ctx, v.log, err)
	}
	violations := make([]apierr.FieldViolation, 0, len(verr.Violations))
	for _, viol := range verr.Violations {
		violations = append(violations, apierr.FieldViolation{
			Field:       protovalidate.FieldPathString(viol.Proto.GetField()),
			Description: violationText(viol),
		})
	}
	return apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, violations...)
}

// UnaryServerInterceptor validates each request.
func (v *Validator) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if msg, ok := req.(proto.Message); ok {
			if err := v.Validate(ctx, msg); err != nil {
				return nil, err
			}
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor validates each message a client streams in.
func (v *Validator) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return handler(srv, &validatingStream{ServerStream: ss, v: v})
	}
}

type validatingStream struct {
	grpc.ServerStream
	v *Validator
}

func (s *validatingStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if msg, ok := m.(proto.Message); ok {
		return s.v.Validate(s.Context(), msg)
	}
	return nil
}

// updateMaskFilter returns a filter for AIP-134 update requests (a request with an
// `update_mask` and one resource message field), or nil for any other request. Within the
// resource it validates only fields the mask covers: listed paths, their subfields, and the
// messages on the way to them. With an empty mask, the populated fields are the mask, as
// for a PATCH without one.
func updateMaskFilter(req proto.Message) protovalidate.Filter {
	r := req.ProtoReflect()
	fields := r.Descriptor().Fields()
	maskField := fields.ByName("update_mask")
	if maskField == nil || maskField.Message() == nil || maskField.Message().FullName() != "google.protobuf.FieldMask" {
		return nil
	}
	var resourceField protoreflect.FieldDescriptor
	for i := range fields.Len() {
		f := fields.Get(i)
		if f == maskField || f.Kind() != protoreflect.MessageKind || f.IsList() || f.IsMap() {
			continue
		}
		if resourceField != nil {
			return nil // not one resource field: not an update request we understand
		}
		resourceField = f
	}
	if resourceField == nil || !r.Has(resourceField) {
		return nil
	}
	mask, _ := r.Get(maskField).Message().Interface().(*fieldmaskpb.FieldMask)
	paths := mask.GetPaths()
	for _, p := range paths {
		if p == "*" {
			return nil
		}
	}
	resource := r.Get(resourceField).Message()
	// Where each message of the resource tree sits, so the filter can name a field's path.
	prefixes := map[proto.Message]string{}
	var walk func(m protoreflect.Message, prefix string)
	walk = func(m protoreflect.Message, prefix string) {
		prefixes[m.Interface()] = prefix
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			if fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap() {
				walk(v.Message(), prefix+string(fd.Name())+".")
			}
			return true
		})
	}
	walk(resource, "")
	if len(paths) == 0 {
		resource.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
			paths = append(paths, string(fd.Name()))
			return true
		})
	}
	return protovalidate.FilterFunc(func(m protoreflect.Message, d protoreflect.Descriptor) bool {
		prefix, inResource := prefixes[m.Interface()]
		if !inResource {
			// The request's own fields (name, update_mask, etag, …) and anything below a
			// covered field are always validated.
			return true
		}
		fd, ok := d.(protoreflect.FieldDescriptor)
		if !ok {
			// A message's own rules (e.g. "keys or a jwks_uri") are about the whole message,
			// which an update on the way to one of its fields does not send: they apply only
			// where the mask covers the message whole. The handler validates the merged
			// resource with Resource.
			return prefix != "" && coveredWhole(paths, strings.TrimSuffix(prefix, "."))
		}
		return covers(paths, prefix+string(fd.Name()))
	})
}

// coveredWhole reports whether path is named by the mask or lies below a named path.
func coveredWhole(paths []string, path string) bool {
	for _, p := range paths {
		if p == path || strings.HasPrefix(path, p+".") {
			return true
		}
	}
	return false
}

var resourceValidator = sync.OnceValues(func() (protovalidate.Validator, error) { return protovalidate.New() })

// Resource validates a whole resource, as an update makes it by merging its mask into the
// stored one, so that rules spanning fields hold for the result. field is the resource's
// path in the request (e.g. "identity_provider"), prefixed to every violation.
func Resource(ctx context.Context, log *slog.Logger, msg proto.Message, field string) error {
	v, err := resourceValidator()
	if err == nil {
		err = v.Validate(msg)
	}
	if err == nil {
		return nil
	}
	var verr *protovalidate.ValidationError
	if !errors.As(err, &verr) {
		return apierr.Internal(ctx, log, err)
	}
	violations := make([]apierr.FieldViolation, 0, len(verr.Violations))
	for _, viol := range verr.Violations {
		path := protovalidate.FieldPathString(viol.Proto.GetField())
		if path == "" {
			path = field
		} else {
			path = field + "." + path
		}
		violations = append(violations, apierr.FieldViolation{Field: path, Description: violationText(viol)})
	}
	return apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, violations...)
}

func violationText(viol *protovalidate.Violation) string {
	if desc := viol.Proto.GetMessage(); desc != "" {
		return desc
	}
	return "breaks rule " + viol.Proto.GetRuleId()
}

// covers reports whether path is named by the mask, lies below a named path, or lies on
// the way to one.
func covers(paths []string, path string) bool {
	for _, p := range paths {
		if p == path || strings.HasPrefix(path, p+".") || strings.HasPrefix(p, path+".") {
			return true
		}
	}
	return false
}
