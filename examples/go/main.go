// A CI pipeline with the official Dagger Go SDK, run by tanto:
//
//	tanto run -- go -C examples/go run . debian:bookworm engine/examples/project out
//
// Lints, builds and tests the small shell project in IMAGE, keeps a build log
// in a cache volume, and exports the built tool to OUT_DIR. Host paths are
// relative to where tanto run started.
package main

import (
	"context"
	"fmt"
	"os"

	"dagger.io/dagger"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: ci IMAGE PROJECT OUT_DIR")
		os.Exit(2)
	}
	if err := ci(context.Background(), os.Args[1], os.Args[2], os.Args[3]); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func ci(ctx context.Context, image, project, out string) error {
	client, err := dagger.Connect(ctx, dagger.WithLogOutput(os.Stderr))
	if err != nil {
		return err
	}
	defer client.Close()

	source := client.Host().Directory(project, dagger.HostDirectoryOpts{Exclude: []string{"*.tmp"}})
	built := client.Container().From(image).
		WithMountedCache("/var/cache/builds", client.CacheVolume("sum-builds"),
			dagger.ContainerWithMountedCacheOpts{Sharing: dagger.CacheSharingModeLocked}).
		WithDirectory("/project", source).
		WithWorkdir("/project").
		WithExec([]string{"sh", "-n", "bin/sum"}).
		WithExec([]string{"sh", "-c", "install -m 755 bin/sum /usr/local/bin/sum && date >> /var/cache/builds/log"})
	tested := built.WithExec([]string{"sh", "test/run.sh"})
	report, err := tested.Stdout(ctx)
	if err != nil {
		return err
	}
	fmt.Print(report)
	exported, err := tested.File("/usr/local/bin/sum").Export(ctx, out+"/sum")
	if err != nil {
		return err
	}
	fmt.Println("exported", exported)
	return client.Close()
}
