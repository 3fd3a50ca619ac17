// Package gen holds Oriel's generated code: Go stubs under pb/ and the merged OpenAPI
// document under openapi/. Everything here is produced by `make generate`; do not edit.
package gen

import _ "embed"

// OpenAPI is the REST edge's merged OpenAPI (Swagger 2.0) document, served at /openapi.json.
//
//go:embed openapi/oriel.swagger.json
var OpenAPI []byte
