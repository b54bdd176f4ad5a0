//go:build tools

// Package tools pins the cometbft command so that `go build
// github.com/cometbft/cometbft/cmd/cometbft` from this module uses the
// versions in go.mod/go.sum (see interop/README.md).
package tools

import (
	_ "github.com/cometbft/cometbft/cmd/cometbft"
)
