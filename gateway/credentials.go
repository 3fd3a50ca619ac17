package gateway

import (
	"context"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/auth"
)

// maxCredentialLen is the longest credential the edge sends to identity (as platform/auth
// bounds what it accepts).
const maxCredentialLen = 4096

// bearer returns the request's `Authorization: Bearer <credential>`, or "" when there is
// none or it is malformed (the service then answers for it, as it would over gRPC).
func bearer(r *http.Request) string {
	values := r.Header.Values("Authorization")
	if len(values) != 1 {
		return ""
	}
	scheme, credential, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || credential == "" || len(credential) > maxCredentialLen {
		return ""
	}
	return credential
}

// introspected reports whether the edge checks credential itself: Oriel's API keys and
// embed tokens. Anything else (an ISV's JWT sent to …/embedSessions:exchange) goes to the
// service, which decides.
func introspected(credential string) bool {
	return strings.HasPrefix(credential, auth.APIKeyPrefix) || strings.HasPrefix(credential, auth.EmbedTokenPrefix)
}

// authenticate returns the principal of the request's credential, nil when the edge does
// not check it, or the error to answer with: UNAUTHENTICATED exactly as a service would
// say it, UNAVAILABLE when identity cannot be asked.
func (g *Gateway) authenticate(ctx context.Context, r *http.Request) (*auth.Principal, error) {
	credential := bearer(r)
	if !introspected(credential) {
		return nil, nil
	}
	ctx, err := auth.Authenticate(ctx, g.introspector, credential)
	if err != nil {
		return nil, err
	}
	return auth.FromContext(ctx), nil
}

// errCredentialMissing is platform/auth's answer to a call without a credential.
func errCredentialMissing() error {
	return apierr.New(codes.Unauthenticated, errorsv1.ErrorReason_ERROR_REASON_CREDENTIAL_MISSING,
		"a valid credential is required: send `authorization: Bearer <credential>`")
}

// errCredentialInvalid is platform/auth's answer to a credential it does not accept.
func errCredentialInvalid() error {
	return apierr.New(codes.Unauthenticated, errorsv1.ErrorReason_ERROR_REASON_CREDENTIAL_INVALID,
		"the credential is not valid")
}

func writeStatus(w http.ResponseWriter, err error) {
	writeError(w, marshaler, status.Convert(err), 0)
}
