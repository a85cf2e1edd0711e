package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// flagRefPath is the operations guide's reference of every flag; it is
// generated from the commands, and this test fails when the two differ.
const flagRefPath = "../../docs/operations/flags.md"

var updateFlagRef = flag.Bool("update-flags-doc", false, "rewrite "+flagRefPath+" from the commands' flags")

// TestFlagReference: docs/operations/flags.md is what the commands define.
// After changing a flag: go test ./cmd/granary -run TestFlagReference -update-flags-doc
func TestFlagReference(t *testing.T) {
	want := flagReference(rootCmd())
	if *updateFlagRef {
		if err := os.WriteFile(flagRefPath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(flagRefPath)
	if err != nil {
		t.Fatalf("%v (generate it: go test ./cmd/granary -run TestFlagReference -update-flags-doc)", err)
	}
	if string(got) != want {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(want, "\n")
		for i := range max(len(gl), len(wl)) {
			g, w := "", ""
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s is out of date with the commands' flags (regenerate: go test ./cmd/granary -run TestFlagReference -update-flags-doc); first difference, line %d:\n doc:   %s\n flags: %s",
					flagRefPath, i+1, g, w)
			}
		}
	}
}

func TestFlagReferenceCoversEveryCommand(t *testing.T) {
	doc := flagReference(rootCmd())
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			return
		}
		if c.Runnable() && !strings.Contains(doc, "## "+c.CommandPath()+"\n") {
			t.Errorf("%s has no section", c.CommandPath())
		}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if !f.Hidden && f.Name != "help" && !strings.Contains(doc, "`--"+f.Name+"`") {
				t.Errorf("%s --%s is not listed", c.CommandPath(), f.Name)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(rootCmd())
}

// flagReference renders every runnable command's flags as Markdown tables.
func flagReference(root *cobra.Command) string {
	var b strings.Builder
	b.WriteString(`# Flag and config file reference

<!-- Generated from the commands by cmd/granary/flagref_test.go; do not edit.
     Regenerate: go test ./cmd/granary -run TestFlagReference -update-flags-doc -->

Every flag of every ` + "`granary`" + ` command, as ` + "`granary COMMAND --help`" + ` prints it.
Commands with a ` + "`--config FILE`" + ` flag (` + "`granary config`, `granary data`" + `) also read each
flag from a YAML file under the same name (` + "`flag-name: value`" + `); a flag given on the
command line wins over the file, and an unknown name in the file is an error. Sizes
accept ` + "`kb`, `mb`, `gb`" + ` (powers of 1024) and ` + "`k`, `m`, `g`" + ` (powers of 1000); durations
take Go's form (` + "`250ms`, `1.5s`, `2m`" + `).
`)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			return
		}
		if c.Runnable() {
			section(&b, c)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return b.String()
}

func section(b *strings.Builder, c *cobra.Command) {
	fmt.Fprintf(b, "\n## %s\n\n%s.", c.CommandPath(), strings.TrimSuffix(c.Short, "."))
	if c.Flags().Lookup("config") != nil {
		b.WriteString(" Every flag below but `--config` is also a config file setting.")
	}
	b.WriteString("\n\n")
	var local, inherited []*pflag.Flag
	c.LocalFlags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden && f.Name != "help" {
			local = append(local, f)
		}
	})
	c.InheritedFlags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden && f.Name != "help" {
			inherited = append(inherited, f)
		}
	})
	if len(local)+len(inherited) == 0 {
		b.WriteString("No flags.\n")
		return
	}
	b.WriteString("| flag | type | default | meaning |\n|---|---|---|---|\n")
	for _, f := range local {
		row(b, f, "")
	}
	for _, f := range inherited {
		row(b, f, " (all `"+c.Parent().CommandPath()+"` commands)")
	}
}

func row(b *strings.Builder, f *pflag.Flag, note string) {
	name := "`--" + f.Name + "`"
	if f.Shorthand != "" {
		name = "`-" + f.Shorthand + "`, " + name
	}
	def := f.DefValue
	switch {
	case def == "" || def == "[]":
		def = ""
	default:
		def = "`" + def + "`"
	}
	cell := strings.NewReplacer("|", `\|`, "\n", " ")
	fmt.Fprintf(b, "| %s | %s | %s | %s%s |\n", name, f.Value.Type(), cell.Replace(def), cell.Replace(f.Usage), note)
}
