# usergraph as a container: a static binary on a minimal, non-root base.
#   docker build -t usergraph .
#   docker compose up            (with PostgreSQL: compose.yaml)
# .ci/run builds the binary with the same command, so CI catches what would
# break this build.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags="-s -w" -o /out/usergraph .

# distroless: no shell or package manager; nonroot is uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/usergraph /usergraph
ENV PORT=8080 DATA_DIR=/data
WORKDIR /data
USER nonroot:nonroot
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD ["/usergraph", "healthcheck"]
ENTRYPOINT ["/usergraph"]
CMD ["serve"]
