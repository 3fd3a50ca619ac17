// Command protodeps prints the third-party .proto files that Oriel's contracts import
// (google/api, google/rpc, buf/validate, protoc-gen-openapiv2) into a folder, from the
// descriptors compiled into the Go packages the project already depends on.
//
// Why: the Buf Schema Registry is not reachable from our build machines, and copying
// .proto sources from other repositories would vendor third-party code. The Go packages
// carry complete descriptors, so the sources can be reproduced locally and exactly match
// the generated Go code our modules link against.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2/options"
	"github.com/jhump/protoreflect/desc"
	"github.com/jhump/protoreflect/desc/protoprint"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// roots are the files our protos import directly; their own imports follow transitively.
var roots = []protoreflect.FileDescriptor{
	annotations.File_google_api_annotations_proto,
	annotations.File_google_api_field_behavior_proto,
	annotations.File_google_api_resource_proto,
	code.File_google_rpc_code_proto,
	errdetails.File_google_rpc_error_details_proto,
	status.File_google_rpc_status_proto,
	validate.File_buf_validate_validate_proto,
	options.File_protoc_gen_openapiv2_options_annotations_proto,
}

func main() {
	out := flag.String("out", "third_party", "folder to write the .proto files into")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "protodeps:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	printer := &protoprint.Printer{}
	seen := map[string]bool{}
	var visit func(fd protoreflect.FileDescriptor) error
	visit = func(fd protoreflect.FileDescriptor) error {
		path := fd.Path()
		// Well-known types ship with buf itself; printing them would shadow its copies.
		if seen[path] || strings.HasPrefix(path, "google/protobuf/") {
			return nil
		}
		seen[path] = true
		imports := fd.Imports()
		for i := range imports.Len() {
			if err := visit(imports.Get(i).FileDescriptor); err != nil {
				return err
			}
		}
		wrapped, err := desc.WrapFile(fd)
		if err != nil {
			return fmt.Errorf("wrap %s: %w", path, err)
		}
		target := filepath.Join(out, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		f, err := os.Create(target)
		if err != nil {
			return err
		}
		if err := printer.PrintProtoFile(wrapped, f); err != nil {
			f.Close()
			return fmt.Errorf("print %s: %w", path, err)
		}
		return f.Close()
	}
	for _, fd := range roots {
		if err := visit(fd); err != nil {
			return err
		}
	}
	return nil
}
