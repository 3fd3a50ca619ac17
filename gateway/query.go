package gateway

import (
	"net/url"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// queryParser reads query parameters as grpc-gateway does, then rewrites update_mask paths
// written with JSON names (`updateMask=displayName,settings.defaultLocale`, the FieldMask's
// JSON form) into the proto names the services expect. A path that names no field is left
// as it is, for the service to refuse.
type queryParser struct{ runtime.DefaultQueryParser }

// Parse implements runtime.QueryParameterParser.
func (p *queryParser) Parse(msg proto.Message, values url.Values, filter *utilities.DoubleArray) error {
	if err := p.DefaultQueryParser.Parse(msg, values, filter); err != nil {
		return err
	}
	r := msg.ProtoReflect()
	fields := r.Descriptor().Fields()
	maskField := fields.ByName("update_mask")
	if maskField == nil || !r.Has(maskField) {
		return nil
	}
	mask, ok := r.Get(maskField).Message().Interface().(*fieldmaskpb.FieldMask)
	if !ok {
		return nil
	}
	var resource protoreflect.MessageDescriptor
	for i := range fields.Len() {
		if f := fields.Get(i); f != maskField && f.Message() != nil && !f.IsList() && !f.IsMap() {
			resource = f.Message()
		}
	}
	if resource == nil {
		return nil
	}
	for i, path := range mask.GetPaths() {
		mask.Paths[i] = protoPath(resource, path)
	}
	return nil
}

// protoPath maps each segment of a dotted path from its JSON name to its proto name.
func protoPath(md protoreflect.MessageDescriptor, path string) string {
	segments := strings.Split(strings.TrimSpace(path), ".")
	for i, s := range segments {
		if md == nil {
			break
		}
		fd := md.Fields().ByJSONName(s)
		if fd == nil {
			fd = md.Fields().ByName(protoreflect.Name(s))
		}
		if fd == nil {
			break
		}
		segments[i] = string(fd.Name())
		md = fd.Message()
	}
	return strings.Join(segments, ".")
}
