# usergraph as a container: a static binary on a minimal, non-root base.
#   docker build -t usergraph .        (or podman build / buildah bud)
#   docker compose up                  (with PostgreSQL: compose.yaml)
# Image names are fully qualified, as Podman and Buildah require.
# .ci/run builds the binary with the same command, so CI catches what would
# break this build.
FROM docker.io/library/golang:1.26-bookworm AS build
# The commit `usergraph version` reports: docker build --build-arg COMMIT=$(git rev-parse HEAD)
ARG COMMIT=unknown
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags="-s -w -X main.commit=${COMMIT:-unknown}" -o /out/usergraph .
# The data folder, owned by the non-root user whatever the builder does
# with ownership by default.
RUN mkdir -p /out/data && chmod 0700 /out/data

# distroless: no shell or package manager; nonroot is uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/usergraph /usergraph
COPY --from=build --chown=65532:65532 /out/data /data
ENV PORT=8080 DATA_DIR=/data
WORKDIR /data
USER 65532:65532
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD ["/usergraph", "healthcheck"]
ENTRYPOINT ["/usergraph"]
CMD ["serve"]
