# Directory and File fields of Dagger's core API through the real Python
# SDK, each checked for the behaviour a pipeline relies on.
# Usage: directories.py IMAGE
import sys

import anyio
import dagger
from dagger import ExistsType, FileType, dag


async def ls(base, dir, *cmd):
    """What a step sees of `dir` mounted at /d."""
    return await base.with_mounted_directory("/d", dir).with_exec(list(cmd)).stdout()


async def main(image: str) -> None:
    async with dagger.connection(dagger.Config(log_output=sys.stderr)):
        base = dag.container().from_(image)
        quotes = (
            dag.directory()
            .with_new_file("quotes/descartes", "Cogito, ergo sum")
            .with_symlink("quotes/descartes", "i-am")
            .with_symlink("quotes/does-not-exist", "nothing")
        )

        # exists: types checked as test(1) does, symlinks followed unless asked.
        assert await quotes.exists("quotes")
        assert not await quotes.exists("We believe in nothing")
        assert await quotes.exists("quotes", expected_type=ExistsType.DIRECTORY_TYPE)
        assert not await quotes.exists("quotes", expected_type=ExistsType.REGULAR_TYPE)
        assert await quotes.exists("i-am", expected_type=ExistsType.SYMLINK_TYPE)
        assert await quotes.exists("i-am", expected_type=ExistsType.REGULAR_TYPE)
        assert not await quotes.exists(
            "i-am", expected_type=ExistsType.REGULAR_TYPE, do_not_follow_symlinks=True
        )
        assert not await quotes.exists("nothing")
        assert await quotes.exists("nothing", do_not_follow_symlinks=True)
        print("exists: ok")

        # name: "/" for a root, the base name with a slash below it.
        assert await dag.directory().name() == "/"
        nested = dag.directory().with_new_directory("very/nested")
        assert await nested.directory("very/nested").name() == "nested/"
        print("name: ok")

        # withSymlink: a real symlink, its target as given.
        linked = await ls(base, quotes, "readlink", "/d/i-am")
        assert linked == "quotes/descartes\n", linked
        print("withSymlink: ok")

        # withoutFiles: several at once; a missing path is not an error.
        left = await (
            dag.directory()
            .with_new_file("some-file", "x")
            .with_new_file("some-file-2", "x")
            .with_new_file("some-dir/sub-file", "x")
            .without_files(["some-file", "some-file-2", "not-there"])
            .entries()
        )
        assert left == ["some-dir"] or left == ["some-dir/"], left
        # A path with `*` removes what it matches, as in Dagger.
        many = (
            dag.directory()
            .with_new_file("b/foo.txt", "x")
            .with_new_file("b/bar.txt", "x")
            .with_new_file("b/data.json", "x")
            .with_new_file("a1/f", "x")
            .with_new_file("a2/f", "x")
            .with_new_file("keep", "x")
        )
        assert await many.without_files(["b/*.txt", "z*"]).entries(path="b") == ["data.json"]
        assert await many.without_directory("a*").glob("**") == [
            "b", "b/bar.txt", "b/data.json", "b/foo.txt", "keep",
        ]
        assert await many.without_files(["**"]).entries() == []
        print("withoutFiles: ok")

        # withFiles: each file under its own name, permissions if given.
        first = dag.directory().with_new_file("first-file", "one").file("first-file")
        second = dag.directory().with_new_file("second-file", "two").file("second-file")
        files = dag.directory().with_files("/a/b/", [first, second])
        assert await files.file("a/b/first-file").contents() == "one"
        assert await files.file("a/b/second-file").contents() == "two"
        modes = await ls(
            base,
            dag.directory().with_files(".", [first, second], permissions=0o700),
            "stat", "-c", "%a %n", "/d/first-file", "/d/second-file",
        )
        assert modes == "700 /d/first-file\n700 /d/second-file\n", modes
        print("withFiles: ok")

        # withTimestamps: every entry, directories included.
        made = base.with_exec(
            ["sh", "-c", "mkdir -p /out/sub && touch /out/f /out/sub/g"]
        ).directory("/out")
        stamped = made.with_timestamps(499162500)
        # Copied below a new name, as a mount point's own mtime is the
        # mount's business (Dagger's tests avoid it too).
        times = await ls(
            base,
            dag.directory().with_directory("out", stamped),
            "stat", "-c", "%Y %n", "/d/out", "/d/out/f", "/d/out/sub", "/d/out/sub/g",
        )
        assert times.split() == [
            "499162500", "/d/out", "499162500", "/d/out/f", "499162500", "/d/out/sub",
            "499162500", "/d/out/sub/g",
        ], times
        stamped_file = await ls(
            base,
            dag.directory().with_file("f", made.file("f").with_timestamps(86400)),
            "stat", "-c", "%Y", "/d/f",
        )
        assert stamped_file == "86400\n", stamped_file
        print("withTimestamps: ok")

        # chown: ids, the group defaulting to the user's id, names from the
        # tree's own /etc/passwd and /etc/group.
        owned = dag.directory().with_new_file("dir/file.txt", "hi").chown("dir", "555:556")
        owners = await ls(base, owned, "stat", "-c", "%u:%g", "/d/dir", "/d/dir/file.txt")
        assert owners == "555:556\n555:556\n", owners
        whole = dag.directory().with_new_file("f", "x").chown(".", "777")
        owners = await ls(
            base, dag.directory().with_directory("x", whole),
            "stat", "-c", "%u:%g", "/d/x", "/d/x/f",
        )
        assert owners == "777:777\n777:777\n", owners
        rootfs = (
            base.with_exec(
                ["sh", "-c", "groupadd -g 4321 agroup && useradd -u 1234 -g agroup auser"]
            )
            .rootfs()
            .with_new_file("dir/file.txt", "hello")
            .chown("dir", "auser:agroup")
        )
        owners = await ls(base, rootfs.directory("dir"), "stat", "-c", "%u:%g", "/d/file.txt")
        assert owners == "1234:4321\n", owners
        file_owner = await ls(
            base,
            dag.directory().with_file("f", dag.file("f", "x").chown("42:43")),
            "stat", "-c", "%u:%g", "/d/f",
        )
        assert file_owner == "42:43\n", file_owner
        try:
            await dag.directory().with_new_file("f", "x").chown("f", "nobody-here").sync()
            raise AssertionError("an unknown owner was accepted")
        except dagger.QueryError as error:
            assert "nobody-here" in str(error) and "/etc/passwd" in str(error), error
        print("chown: ok")

        # stat: name, size, type, permissions; a missing path fails naming it.
        stat = dag.directory().with_new_file("f", "data", permissions=0o444).stat("f")
        assert await stat.name() == "f"
        assert await stat.size() == 4
        assert await stat.file_type() == FileType.REGULAR
        assert await stat.permissions() == 0o444
        d = dag.directory().with_new_directory("d", permissions=0o750).stat("d")
        assert await d.file_type() == FileType.DIRECTORY
        assert await d.permissions() == 0o750
        link = quotes.stat("i-am", do_not_follow_symlinks=True)
        assert await link.file_type() == FileType.SYMLINK
        file_stat = dag.file("notes.txt", "hello", permissions=0o600).stat()
        assert await file_stat.name() == "notes.txt"
        assert await file_stat.size() == 5
        assert await file_stat.permissions() == 0o600
        try:
            await dag.directory().stat("missing").name()
            raise AssertionError("stat of a missing path succeeded")
        except dagger.QueryError as error:
            assert "missing: no such file or directory" in str(error), error
        print("stat: ok")

        # filter: only what the patterns take.
        tree = (
            dag.directory()
            .with_new_file("a/x.txt", "x")
            .with_new_file("a/y.md", "y")
            .with_new_file("b/z.txt", "z")
        )
        assert await tree.filter(include=["a/"]).entries() in (["a"], ["a/"])
        assert await tree.filter(exclude=["*/*.md"]).glob("**/*") == [
            "a", "a/x.txt", "b", "b/z.txt",
        ]
        print("filter: ok")

        # diff: what the other has that this lacks or has otherwise.
        one = dag.directory().with_new_file("a-file", "a")
        two = dag.directory().with_new_file("b-file", "b")
        assert await one.diff(two).entries() == ["b-file"]
        assert await two.diff(one).entries() == ["a-file"]
        assert await tree.diff(tree).entries() == []
        assert await made.diff(made.with_timestamps(0)).entries() == []
        changed = tree.with_new_file("a/x.txt", "changed").with_new_file("c/new", "n")
        assert await tree.diff(changed).glob("**/*") == ["a", "a/x.txt", "c", "c/new"]
        print("diff: ok")

        # findUp: the nearest one going up, relative to the directory.
        up = (
            dag.directory()
            .with_new_file("root.txt", "r")
            .with_new_file("a/target.txt", "t")
            .with_new_file("a/b/other.txt", "o")
            .with_new_file("a/b/c/leaf.txt", "l")
        )
        assert await up.find_up("other.txt", "a/b") == "a/b/other.txt"
        assert await up.find_up("target.txt", "a/b") == "a/target.txt"
        assert await up.find_up("root.txt", "a/b") == "root.txt"
        assert await up.find_up("leaf.txt", "a/b") is None
        print("findUp: ok")

        # withError: raises its message; an empty one passes the directory on.
        assert await dag.directory().with_error("").entries() == []
        try:
            await dag.directory().with_error("custom failure").sync()
            raise AssertionError("withError did not fail")
        except dagger.QueryError as error:
            assert "custom failure" in str(error), error
        print("withError: ok")

        # File.withReplaced: literal text; several matches need all or firstFrom.
        hello = dag.file("hello.txt", "Hello, World!\nGoodbye, World!\n", permissions=0o640)
        once = hello.with_replaced("Hello, World", "Hello, Universe")
        assert await once.contents() == "Hello, Universe!\nGoodbye, World!\n"
        assert await once.stat().permissions() == 0o640
        every = hello.with_replaced("World", "Universe", all=True)
        assert await every.contents() == "Hello, Universe!\nGoodbye, Universe!\n"
        later = hello.with_replaced("World", "Universe", first_from=2)
        assert await later.contents() == "Hello, World!\nGoodbye, Universe!\n"
        assert await hello.with_replaced("$50.99", "x", all=True).contents() == await hello.contents()
        for search, expected in [("World", "found multiple times"), ("Moon", "not found")]:
            try:
                await hello.with_replaced(search, "x").contents()
                raise AssertionError(f"replacing {search} succeeded")
            except dagger.QueryError as error:
                assert expected in str(error), error
        print("withReplaced: ok")

        # search: one result per matching line with the offsets of each
        # match; paths, globs, hidden files, files only, limits.
        src = (
            dag.directory()
            .with_new_file("main.go", "package main\n\nfunc main() {\n\tfmt.Println(\"hi\") // TODO: hi\n}\n")
            .with_new_file("docs/readme.md", "TODO: write docs\ntodo lowercase\n")
            .with_new_file(".hidden/notes.md", "TODO: hidden\n")
        )
        found = await src.search("TODO")
        where = [(await r.file_path(), await r.line_number()) for r in found]
        assert sorted(where) == [(".hidden/notes.md", 1), ("docs/readme.md", 1), ("main.go", 4)], where
        go = (await src.search("TODO", paths=["main.go"]))[0]
        assert await go.matched_lines() == '\tfmt.Println("hi") // TODO: hi\n'
        assert await go.absolute_offset() == len("package main\n\nfunc main() {\n")
        sub = (await go.submatches())[0]
        at = '\tfmt.Println("hi") // TODO'.index("TODO")
        assert (await sub.text(), await sub.start(), await sub.end()) == ("TODO", at, at + 4)
        assert len(await src.search("todo", insensitive=True, globs=["*.md"])) == 3
        assert len(await src.search("TODO", skip_hidden=True)) == 2
        assert len(await src.search("TODO", limit=1)) == 1
        only = await src.search("TODO", files_only=True, paths=["docs"])
        assert [await r.file_path() for r in only] == ["docs/readme.md"]
        assert await src.search("Println(", literal=True) != []
        spanning = await src.search("main\\(\\) \\{\\n.fmt", multiline=True)
        assert await spanning[0].line_number() == 3, spanning
        in_file = await src.file("docs/readme.md").search("TODO|todo")
        assert [await r.line_number() for r in in_file] == [1, 2]
        assert await in_file[0].file_path() == "readme.md"
        print("search: ok")

        # File.asJSON: the document read, its fields and arrays, edited.
        doc = dag.file("pkg.json", '{"name": "app", "version": 3, "ok": true, "deps": ["a", "b"]}').as_json()
        assert await doc.contents() == '{"name": "app", "version": 3, "ok": true, "deps": ["a", "b"]}'
        assert await doc.field(["name"]).as_string() == "app"
        assert await doc.field(["version"]).as_integer() == 3
        assert await doc.field(["ok"]).as_boolean() is True
        assert sorted(await doc.fields()) == ["deps", "name", "ok", "version"]
        assert [await d.as_string() for d in await doc.field(["deps"]).as_array()] == ["a", "b"]
        edited = doc.with_field(["scripts", "test"], doc.new_string("pytest"))
        assert await edited.field(["scripts", "test"]).as_string() == "pytest"
        assert await doc.new_integer(7).contents() == "7"
        assert await doc.with_contents(dagger.JSON('{"b":1,"a":[true]}')).contents(pretty=True) == (
            '{\n  "a": [\n    true\n  ],\n  "b": 1\n}'
        )
        try:
            await doc.field(["missing"]).as_string()
            raise AssertionError("a missing field was found")
        except dagger.QueryError as error:
            assert "no such field: 'missing'" in str(error), error
        try:
            await dag.file("bad.json", "{not json").as_json().contents()
            raise AssertionError("invalid JSON was accepted")
        except dagger.QueryError as error:
            assert "bad.json" in str(error) and "not valid JSON" in str(error), error
        print("asJSON: ok")

        # File.asEnvFile: quotes removed, names expanded, later lines win.
        env = dag.file(
            ".env",
            "# settings\nexport NAME='the world'\nGREETING=\"hello ${NAME}\"\n"
            "PRICE=$5 off\nAPP_TOKEN=t1\nAPP_URL=http://x\nNAME=you\n",
        ).as_env_file()
        assert await env.get("GREETING") == "hello you"
        assert await env.get("GREETING", raw=True) == '"hello ${NAME}"'
        assert await env.get("PRICE") == "$5 off"
        assert await env.get("MISSING") == ""
        assert await env.exists("APP_TOKEN") and not await env.exists("settings")
        pairs = [(await v.name(), await v.value()) for v in await env.variables()]
        assert pairs == [
            ("APP_TOKEN", "t1"), ("APP_URL", "http://x"), ("GREETING", "hello you"),
            ("NAME", "you"), ("PRICE", "$5 off"),
        ], pairs
        app = env.namespace("app")
        assert [await v.name() for v in await app.variables()] == ["TOKEN", "URL"]
        edited = env.with_variable("EXTRA", "1").without_variable("PRICE")
        assert await edited.exists("EXTRA") and not await edited.exists("PRICE")
        written = await edited.as_file().contents()
        # A name set again keeps its place; a new one goes last.
        assert written == (
            'NAME=you\nGREETING="hello ${NAME}"\nAPP_TOKEN=t1\nAPP_URL=http://x\nEXTRA=1\n'
        ), written
        try:
            await dag.file(".env", "A=$UNSET_0d41\n").as_env_file().get("A")
            raise AssertionError("an unbound variable expanded")
        except dagger.QueryError as error:
            assert "UNSET_0d41: unbound variable" in str(error), error
        print("asEnvFile: ok")

        # withPatch, withPatchFile: git's unified diffs, all or nothing.
        project = (
            dag.directory()
            .with_new_file("sub/hello.txt", "Hello, World!\n")
            .with_new_file("sub/delete-me.txt", "bye\n")
            .with_new_file("sub/run.sh", "echo a\n", permissions=0o755)
            .directory("sub")
        )
        patch = (
            "diff --git a/hello.txt b/hello.txt\n--- a/hello.txt\n+++ b/hello.txt\n"
            "@@ -1 +1 @@\n-Hello, World!\n+Hello, Dagger!\n"
            "--- a/delete-me.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n"
            "--- /dev/null\n+++ b/new/file.txt\n@@ -0,0 +1,2 @@\n+one\n+two\n"
            "--- a/run.sh\n+++ b/run.sh\n@@ -1 +1 @@\n-echo a\n+echo b\n"
        )
        patched = project.with_patch(patch)
        assert await patched.file("hello.txt").contents() == "Hello, Dagger!\n"
        assert await patched.file("new/file.txt").contents() == "one\ntwo\n"
        assert not await patched.exists("delete-me.txt")
        assert await patched.stat("run.sh").permissions() == 0o755
        from_file = project.with_patch_file(dag.file("p.diff", patch))
        assert await from_file.file("hello.txt").contents() == "Hello, Dagger!\n"
        assert await project.with_patch("").entries() == await project.entries()
        try:
            stale = "--- a/hello.txt\n+++ b/hello.txt\n@@ -1 +1 @@\n-Goodbye\n+x\n"
            await project.with_patch(stale).sync()
            raise AssertionError("a stale patch applied")
        except dagger.QueryError as error:
            assert "hello.txt: the hunk at line 1 does not apply" in str(error), error
        # What git writes without hunks: a mode change, a pure rename, an
        # empty file added.
        headers_only = (
            "diff --git a/hello.txt b/hello.txt\nold mode 100644\nnew mode 100755\n"
            "diff --git a/delete-me.txt b/kept.txt\nsimilarity index 100%\n"
            "rename from delete-me.txt\nrename to kept.txt\n"
            "diff --git a/empty b/empty\nnew file mode 100644\nindex 0000000..e69de29\n"
        )
        moved = project.with_patch(headers_only)
        assert await moved.stat("hello.txt").permissions() == 0o755
        assert await moved.file("kept.txt").contents() == "bye\n"
        assert not await moved.exists("delete-me.txt")
        assert await moved.file("empty").contents() == ""
        print("withPatch: ok")


anyio.run(main, *sys.argv[1:2])
