# syntax=docker/dockerfile:1
# The detector image: a static binary on distroless, non-root. Built from the
# repository root, so pkg/ and every go.work module resolve:
#   docker build -f deploy/docker/detector.Dockerfile -t ghcr.io/mxwarden/detector:$VERSION .
# (deploy/docker/detector.Dockerfile.dockerignore keeps caches out of the context.)
# tools/deploy checks this file against go.work (TestDockerfiles).
ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
ENV GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0
# Module files of every go.work module first: the download layer is reused
# until a go.mod or go.sum changes.
COPY go.work go.work.sum ./
COPY pkg/go.mod pkg/go.sum pkg/
COPY services/ingest/go.mod services/ingest/go.sum services/ingest/
COPY services/detector/go.mod services/detector/go.sum services/detector/
COPY services/enforcer/go.mod services/enforcer/go.sum services/enforcer/
RUN --mount=type=cache,target=/root/go/pkg/mod go mod download
COPY pkg/ pkg/
COPY services/detector/ services/detector/
RUN --mount=type=cache,target=/root/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags="-s -w" -o /out/detector ./services/detector

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/detector /usr/local/bin/detector
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/detector"]
CMD ["run"]
