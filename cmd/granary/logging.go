package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

func addLogFlags(cmd *cobra.Command) {
	cmd.Flags().String("log-level", "info", "log level: debug, info, warn, error")
	cmd.Flags().String("log-format", "text", "log format: text or json")
}

// newLogger builds the structured logger the flags ask for.
func newLogger(cmd *cobra.Command) (*slog.Logger, error) {
	lvl, _ := cmd.Flags().GetString("log-level")
	format, _ := cmd.Flags().GetString("log-format")
	var level slog.Level
	if err := level.UnmarshalText([]byte(lvl)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch strings.ToLower(format) {
	case "text":
		h = slog.NewTextHandler(os.Stderr, opts)
	case "json":
		h = slog.NewJSONHandler(os.Stderr, opts)
	default:
		return nil, fmt.Errorf("--log-format: want text or json, got %q", format)
	}
	l := slog.New(h)
	slog.SetDefault(l)
	return l, nil
}
