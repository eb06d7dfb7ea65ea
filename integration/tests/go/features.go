package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"dagger.io/dagger"
)

// features: a host directory mounted, changed and exported; a cache volume
// across runs; a secret as an env var and a file; two branches at once.
func features(ctx context.Context, client *dagger.Client, image, run, secretValue string) error {
	base := client.Container().From(image)

	src := client.Host().Directory("src")
	built := base.WithMountedDirectory("/src", src).WithWorkdir("/src").
		WithExec([]string{"sh", "-c", "tr a-z A-Z < in.txt > out.txt"})
	written, err := built.Directory("/src").Export(ctx, "exported")
	if err != nil {
		return err
	}
	fmt.Println("exported to:", written)

	// The run number keeps the step new; the volume keeps what runs wrote.
	count, err := base.WithMountedCache("/cache", client.CacheVolume("runs")).
		WithExec([]string{"sh", "-c", "echo " + run + " >> /cache/runs; wc -l < /cache/runs"}).
		Stdout(ctx)
	if err != nil {
		return err
	}
	fmt.Println("cache runs:", strings.TrimSpace(count))

	secret := client.SetSecret("token", secretValue)
	seen, err := base.WithSecretVariable("TOKEN", secret).
		WithMountedSecret("/run/token", secret).
		WithExec([]string{"sh", "-c", `test "$TOKEN" = "$(cat /run/token)" && echo ${#TOKEN}`}).
		Stdout(ctx)
	if err != nil {
		return err
	}
	fmt.Println("secret length:", strings.TrimSpace(seen))

	// Two branches from goroutines: each reports when it ran.
	names := []string{"left", "right"}
	outs := make([]string, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = base.WithExec([]string{"sh", "-c",
				"date +%s.%N; sleep 1; date +%s.%N # " + name + " " + run}).Stdout(ctx)
		}()
	}
	wg.Wait()
	lines := []string{}
	for i, name := range names {
		if errs[i] != nil {
			return errs[i]
		}
		lines = append(lines, fmt.Sprintf("branch %s: %s", name, strings.Join(strings.Fields(outs[i]), " ")))
	}
	sort.Strings(lines)
	for _, line := range lines {
		fmt.Println(line)
	}
	return nil
}
