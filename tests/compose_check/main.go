// Command composecheck loads a compose file with compose-go, the library behind
// `docker compose config`, so the file is validated the way Docker would load it on
// machines without the Compose plugin. Usage: composecheck FILE WORKDIR [OVERRIDE...]
// It prints the resolved project as YAML (all profiles enabled) or exits 1 with the error.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: composecheck FILE WORKDIR [OVERRIDE...]")
		os.Exit(2)
	}
	files := append([]string{os.Args[1]}, os.Args[3:]...)
	opts, err := cli.NewProjectOptions(files,
		cli.WithWorkingDirectory(os.Args[2]),
		cli.WithEnvFiles(), cli.WithDotEnv,
		cli.WithProfiles([]string{"demo", "dashboard"}),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, "options:", err)
		os.Exit(1)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
	out, err := project.MarshalYAML()
	if err != nil {
		fmt.Fprintln(os.Stderr, "marshal:", err)
		os.Exit(1)
	}
	fmt.Print(string(out))
}
