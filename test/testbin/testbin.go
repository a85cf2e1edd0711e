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
	bin := filepath.Join(dir, "granary")
	goTool := "go"
	if p, err := exec.LookPath("go"); err == nil {
		goTool = p
	}
	start := time.Now()
	cmd := exec.Command(goTool, "build", "-o", bin, "granary/cmd/granary")
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building granary: %w", err)
	}
	fmt.Fprintf(os.Stderr, "%s: built %s in %v\n", suite, bin, time.Since(start).Round(time.Millisecond))
	return bin, nil
}
