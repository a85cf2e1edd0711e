// Package testbin builds the granary binary for the multi-process test
// suites, so they run the product as users run it.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Build compiles granary/cmd/granary into dir and returns the binary's path.
// The compiler's output goes to standard error; so does a line with the time
// the build took, prefixed with suite.
func Build(suite, dir string) (string, error) {
	if err := BuildPackages(suite, dir, "granary/cmd/granary"); err != nil {
		return "", err
	}
	return filepath.Join(dir, "granary"), nil
}

// BuildPackages compiles the main packages matched by pattern (such as
// granary/examples/...) into dir, each binary named after its package's
// directory, as Build does.
func BuildPackages(suite, dir, pattern string) error {
	goTool := "go"
	if p, err := exec.LookPath("go"); err == nil {
		goTool = p
	}
	start := time.Now()
	cmd := exec.Command(goTool, "build", "-o", dir+string(filepath.Separator), pattern)
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building %s: %w", pattern, err)
	}
	fmt.Fprintf(os.Stderr, "%s: built %s into %s in %v\n", suite, pattern, dir, time.Since(start).Round(time.Millisecond))
	return nil
}
