package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"dagger.io/dagger"
)

// chain: from, withExec and stdout, env, workdir and user, exit codes,
// ExecError, sync and the node it returns, IDs loaded back, a list of
// objects.
func chain(ctx context.Context, client *dagger.Client, image string) error {
	base := client.Container().From(image)

	withEnv := base.WithEnvVariable("A", "b")
	out, err := withEnv.WithExec([]string{"sh", "-c", "echo $A; id -un"}).Stdout(ctx)
	if err != nil {
		return err
	}
	fmt.Println("stdout:", strings.ReplaceAll(out, "\n", "|"))

	where, err := base.WithWorkdir("/srv/app").WithUser("nobody").
		WithExec([]string{"sh", "-c", "pwd; id -un"}).Stdout(ctx)
	if err != nil {
		return err
	}
	fmt.Println("workdir and user:", strings.ReplaceAll(where, "\n", "|"))

	code, err := base.WithExec([]string{"sh", "-c", "exit 3"},
		dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny}).ExitCode(ctx)
	if err != nil {
		return err
	}
	fmt.Println("exit code:", code)

	_, err = base.WithExec([]string{"sh", "-c", "echo out; echo err >&2; exit 5"}).Stdout(ctx)
	var execErr *dagger.ExecError
	if !errors.As(err, &execErr) {
		return fmt.Errorf("expected an ExecError, got %v", err)
	}
	fmt.Println("exec error:", execErr.ExitCode, execErr.Cmd,
		strings.TrimSpace(execErr.Stdout), strings.TrimSpace(execErr.Stderr))

	synced, err := base.WithNewFile("/hello.txt", "hi there").Sync(ctx)
	if err != nil {
		return err
	}
	contents, err := synced.File("/hello.txt").Contents(ctx)
	if err != nil {
		return err
	}
	fmt.Println("synced file:", contents)

	// An ID taken back: checked with __typename, and through the legacy
	// loadContainerFromID.
	id, err := synced.ID(ctx)
	if err != nil {
		return err
	}
	loaded, err := dagger.Load[*dagger.Container](ctx, client, id)
	if err != nil {
		return err
	}
	contents, err = loaded.File("/hello.txt").Contents(ctx)
	if err != nil {
		return err
	}
	fmt.Println("loaded file:", contents)
	contents, err = client.LoadContainerFromID(dagger.ContainerID(id)).File("/hello.txt").Contents(ctx)
	if err != nil {
		return err
	}
	fmt.Println("legacy loaded file:", contents)

	vars, err := withEnv.EnvVariables(ctx)
	if err != nil {
		return err
	}
	for _, v := range vars {
		name, err := v.Name(ctx)
		if err != nil {
			return err
		}
		if name != "A" {
			continue
		}
		value, err := v.Value(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("env variable: %s=%s\n", name, value)
	}
	return nil
}
