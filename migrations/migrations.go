// Package migrations embeds the SQL migrations, one directory per dialect.
// Both directories must describe the same tables and columns; a test checks.
// Files are named NNNN_name.tx.up.sql / NNNN_name.tx.down.sql (bun's format:
// ".tx." runs the file in a transaction; statements are separated by --bun:split).
package migrations

import "embed"

// FS holds postgres/*.sql and sqlite/*.sql.
//
//go:embed postgres/*.sql sqlite/*.sql
var FS embed.FS
