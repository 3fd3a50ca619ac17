# syntax=docker/dockerfile:1
# One image with every Oriel binary, each static (CGO off: SQLite is pure Go).
# docker-compose.yml picks the binary per service with `command`.

# The embed client (TypeScript and ECharts) is built with npm from the committed lock file,
# then embedded into the gateway binary with go:embed.
FROM node:20-bookworm-slim AS embed-client
WORKDIR /src/gateway/embedclient/web
COPY gateway/embedclient/web/package.json gateway/embedclient/web/package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY gateway/embedclient/web/ ./
RUN npm run build

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Module files first, so dependency downloads are cached apart from source changes.
COPY go.work go.work.sum ./
COPY gen/go.mod gen/go.sum gen/
COPY platform/go.mod platform/go.sum platform/
COPY services/content/go.mod services/content/go.sum services/content/
COPY services/datagateway/go.mod services/datagateway/go.sum services/datagateway/
COPY services/identity/go.mod services/identity/go.sum services/identity/
COPY services/tenant/go.mod services/tenant/go.sum services/tenant/
COPY gateway/go.mod gateway/go.sum gateway/
COPY cli/go.mod cli/go.sum cli/
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
COPY --from=embed-client /src/gateway/embedclient/dist/ gateway/embedclient/dist/
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ \
        ./services/content/cmd/content \
        ./services/datagateway/cmd/datagateway \
        ./services/datagateway/cmd/oriel-agent \
        ./services/identity/cmd/identity \
        ./services/tenant/cmd/tenant \
        ./gateway/cmd/gateway \
        ./cli/cmd/oriel

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
USER nonroot:nonroot
# Overridden per service in docker-compose.yml.
ENTRYPOINT ["/usr/local/bin/oriel"]
