// Package graph is the GraphQL layer: gqlgen's generated executor and models,
// and thin resolvers that decode input, call one service method and map the
// result. Rules live in the services under internal/.
package graph

//go:generate go tool gqlgen generate

import (
	"time"

	"github.com/usergraph/usergraph/internal/account"
	"github.com/usergraph/usergraph/internal/audit"
	"github.com/usergraph/usergraph/internal/batch"
	"github.com/usergraph/usergraph/internal/wallet"
	"github.com/usergraph/usergraph/internal/webhook"
)

// Resolver holds the services the resolvers call.
type Resolver struct {
	Accounts     *account.Service
	BatchService *batch.Service
	Wallets      *wallet.Service
	Audit        *audit.Log
	Webhooks     *webhook.Hooks
	// MediaURL is put before media file names: PUBLIC_URL + "/media/".
	MediaURL string
	// BatchWindow is how long a list's loaders collect keys before they
	// fetch (GRAPHQL_BATCH_WINDOW).
	BatchWindow time.Duration
}
