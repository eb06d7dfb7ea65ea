# Dagger's Changeset through the real Python SDK: Directory.changes and
# withChanges, the path lists, layer, asPatch, export, isEmpty, IDs.
# Usage: changesets.py IMAGE
import os
import sys
import tempfile

import anyio
import dagger
from dagger import dag


async def tree(dir):
    """Every path with its contents (files) or None (directories)."""
    out = {}
    for path in await dir.glob("**"):
        if await dir.exists(path, expected_type=dagger.ExistsType.DIRECTORY_TYPE):
            out[path] = None
        else:
            out[path] = await dir.file(path).contents()
    return out


async def fails_with(call, *words):
    """`call` fails with a message holding every word."""
    try:
        await call
    except dagger.QueryError as e:
        for word in words:
            assert word in str(e), f"{word!r} not in {str(e)!r}"
        return
    raise AssertionError(f"no error, expected one naming {words}")


async def main(image: str) -> None:
    async with dagger.connection(dagger.Config(log_output=sys.stderr)):
        base = dag.container().from_(image)
        before = (
            dag.directory()
            .with_new_file("same", "s")
            .with_new_file("edited", "one\ntwo\nthree\n")
            .with_new_file("mode", "m\n")
            .with_new_file("gone", "g\n")
            .with_new_file("old-dir/a", "a\n")
            .with_new_file("old-dir/deep/b", "b\n")
        )
        after = (
            before.with_new_file("edited", "one\n2\nthree\n")
            .with_new_file("mode", "m\n", permissions=0o755)
            .without_file("gone")
            .without_directory("old-dir")
            .with_new_file("new-dir/sub/n", "n\n")
            .with_new_file("added", "+\n")
        )
        changes = after.changes(before)

        # A directory against itself, and Query.changeset: nothing changed.
        same = before.changes(before)
        assert await same.is_empty()
        assert await same.added_paths() == []
        assert await same.modified_paths() == []
        assert await same.removed_paths() == []
        assert await dag.changeset().is_empty()
        # A new empty directory alone leaves it empty, as in Dagger.
        only_dir = before.with_new_directory("empty").changes(before)
        assert await only_dir.added_paths() == ["empty/"]
        assert await only_dir.is_empty()
        print("empty: ok")

        # The lists: directories end with /, a removed one is listed once.
        assert not await changes.is_empty()
        added = await changes.added_paths()
        assert added == ["added", "new-dir/", "new-dir/sub/", "new-dir/sub/n"], added
        modified = await changes.modified_paths()
        assert modified == ["edited", "mode"], modified
        removed = await changes.removed_paths()
        assert removed == ["gone", "old-dir/"], removed
        assert await changes.before().entries() == await before.entries()
        assert await changes.after().entries() == await after.entries()
        layer = await changes.layer().glob("**")
        assert sorted(layer) == [
            "added", "edited", "mode", "new-dir", "new-dir/sub", "new-dir/sub/n"
        ], layer
        print("paths: ok")

        # diffStats: every path, sorted, with numstat's line counts; removed
        # directories' contents listed too.
        async def stats(changeset):
            out = []
            for stat in await changeset.diff_stats():
                out.append((
                    await stat.path(),
                    (await stat.kind()).name,
                    await stat.added_lines(),
                    await stat.removed_lines(),
                    await stat.old_path(),
                ))
            return out

        assert await stats(changes) == [
            ("added", "ADDED", 1, 0, None),
            ("edited", "MODIFIED", 1, 1, None),
            ("gone", "REMOVED", 0, 1, None),
            ("mode", "MODIFIED", 0, 0, None),
            ("new-dir/", "ADDED", 0, 0, None),
            ("new-dir/sub/", "ADDED", 0, 0, None),
            ("new-dir/sub/n", "ADDED", 1, 0, None),
            ("old-dir/", "REMOVED", 0, 0, None),
            ("old-dir/a", "REMOVED", 0, 1, None),
            ("old-dir/deep/", "REMOVED", 0, 0, None),
            ("old-dir/deep/b", "REMOVED", 0, 1, None),
        ], await stats(changes)
        # A file moved unchanged is one rename.
        moved = before.without_file("gone").with_new_file("moved/gone", "g\n").changes(before)
        assert await stats(moved) == [
            ("moved/", "ADDED", 0, 0, None),
            ("moved/gone", "RENAMED", 0, 0, "gone"),
        ], await stats(moved)
        assert await stats(same) == []
        print("diffStats: ok")

        # withChanges: the before directory becomes the after directory,
        # removals included; on another directory its own entries stay.
        applied = before.with_changes(changes)
        assert await tree(applied) == await tree(after)
        assert await applied.changes(after).is_empty()
        seen = await base.with_mounted_directory("/d", applied).with_exec(
            ["sh", "-c", "cd /d && find . | sort && stat -c %a mode"]
        ).stdout()
        assert seen == (
            ".\n./added\n./edited\n./mode\n./new-dir\n./new-dir/sub\n"
            "./new-dir/sub/n\n./same\n755\n"
        ), seen
        other = (
            dag.directory()
            .with_new_file("gone", "theirs\n")
            .with_new_file("old-dir/x", "x\n")
            .with_new_file("mine", "kept\n")
            .with_changes(changes)
        )
        names = sorted(e.rstrip("/") for e in await other.entries())
        assert names == ["added", "edited", "mine", "mode", "new-dir"], names
        assert await other.file("mine").contents() == "kept\n"
        assert await other.file("edited").contents() == "one\n2\nthree\n"
        print("withChanges: ok")

        # asPatch: git's unified diff, which withPatch applies back.
        patch_file = changes.as_patch()
        assert await patch_file.name() == "diff.patch"
        patch = await patch_file.contents()
        for part in [
            "diff --git a/edited b/edited\n--- a/edited\n+++ b/edited\n"
            "@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n",
            "diff --git a/added b/added\nnew file mode 100644\n--- /dev/null\n"
            "+++ b/added\n@@ -0,0 +1 @@\n++\n",
            "diff --git a/gone b/gone\ndeleted file mode 100644\n--- a/gone\n"
            "+++ /dev/null\n@@ -1 +0,0 @@\n-g\n",
            "diff --git a/mode b/mode\nold mode 100644\nnew mode 100755\n",
            "diff --git a/old-dir/deep/b b/old-dir/deep/b\n",
        ]:
            assert part in patch, patch
        assert await same.as_patch().contents() == ""
        patched = before.with_patch(patch)
        for path in ["edited", "added", "new-dir/sub/n", "same"]:
            assert await patched.file(path).contents() == await after.file(path).contents(), path
        for path in ["gone", "old-dir/a", "old-dir/deep/b"]:
            assert not await patched.exists(path), path
        from_file = before.with_patch_file(patch_file)
        assert await from_file.file("edited").contents() == "one\n2\nthree\n"
        print("asPatch: ok")

        # export: removed paths removed on the host, new and changed ones
        # written, what the changeset does not name left alone.
        host = tempfile.mkdtemp()
        for path, data in [
            ("gone", "g\n"), ("old-dir/a", "a\n"), ("edited", "one\ntwo\nthree\n"),
            ("untracked", "u\n"),
        ]:
            os.makedirs(os.path.dirname(os.path.join(host, path)), exist_ok=True)
            with open(os.path.join(host, path), "w") as f:
                f.write(data)
        written = await changes.export(host)
        assert os.path.realpath(written) == os.path.realpath(host), written
        assert not os.path.exists(os.path.join(host, "gone"))
        assert not os.path.exists(os.path.join(host, "old-dir"))
        with open(os.path.join(host, "edited")) as f:
            assert f.read() == "one\n2\nthree\n"
        with open(os.path.join(host, "new-dir/sub/n")) as f:
            assert f.read() == "n\n"
        with open(os.path.join(host, "untracked")) as f:
            assert f.read() == "u\n"
        assert os.stat(os.path.join(host, "mode")).st_mode & 0o111
        print("export: ok")

        # IDs: sync, node and loadChangesetFromID give the same changeset.
        synced = await changes.sync()
        assert await synced.removed_paths() == ["gone", "old-dir/"]
        loaded = dag.load_changeset_from_id(dagger.ChangesetID(await changes.id()))
        assert await loaded.modified_paths() == ["edited", "mode"]
        again = before.with_changes(loaded)
        assert await again.file("new-dir/sub/n").contents() == "n\n"
        print("ids: ok")

        # withChangeset: different paths and different lines merge; the same
        # lines changed differently conflict, settled as asked.
        Conflict = dagger.ChangesetMergeConflict
        base_dir = (
            dag.directory()
            .with_new_file("f", "one\ntwo\nthree\nfour\nfive\n")
            .with_new_file("g", "g\n")
        )
        ours = (
            base_dir.with_new_file("f", "ONE\ntwo\nthree\nfour\nfive\n")
            .with_new_file("mine", "m\n")
            .changes(base_dir)
        )
        theirs = (
            base_dir.with_new_file("f", "one\ntwo\nthree\nfour\nFIVE\n")
            .without_file("g")
            .changes(base_dir)
        )
        merged = ours.with_changeset(theirs)
        assert await merged.after().file("f").contents() == "ONE\ntwo\nthree\nfour\nFIVE\n"
        assert await merged.added_paths() == ["mine"]
        assert await merged.modified_paths() == ["f"]
        assert await merged.removed_paths() == ["g"]
        await fails_with(
            ours.with_changeset(theirs, on_conflict=Conflict.FAIL_EARLY).is_empty(),
            'conflict between changesets at path "f": path modified in both changesets',
        )
        clash = base_dir.with_new_file("f", "ONE!\ntwo\nthree\nfour\nfive\n").changes(base_dir)
        await fails_with(ours.with_changeset(clash).is_empty(), 'merge conflict in "f"')
        marked = ours.with_changeset(clash, on_conflict=Conflict.LEAVE_CONFLICT_MARKERS)
        assert await marked.after().file("f").contents() == (
            "<<<<<<< HEAD\nONE\n=======\nONE!\n>>>>>>> theirs\ntwo\nthree\nfour\nfive\n"
        )
        preferred = ours.with_changeset(clash, on_conflict=Conflict.PREFER_OURS)
        assert await preferred.after().file("f").contents() == "ONE\ntwo\nthree\nfour\nfive\n"
        preferred = ours.with_changeset(clash, on_conflict=Conflict.PREFER_THEIRS)
        assert await preferred.after().file("f").contents() == "ONE!\ntwo\nthree\nfour\nfive\n"
        # Modified on one side, removed on the other.
        removes = base_dir.without_file("f").changes(base_dir)
        await fails_with(ours.with_changeset(removes).is_empty(), 'merge conflict in "f"')
        kept = ours.with_changeset(removes, on_conflict=Conflict.LEAVE_CONFLICT_MARKERS)
        assert await kept.after().file("f").contents() == "ONE\ntwo\nthree\nfour\nfive\n"
        gone = ours.with_changeset(removes, on_conflict=Conflict.PREFER_THEIRS)
        assert not await gone.after().exists("f")
        # withChangesets: all at once; a conflict anywhere fails it.
        third = base_dir.with_new_file("h", "h\n").changes(base_dir)
        everything = ours.with_changesets([theirs, third])
        assert await everything.added_paths() == ["h", "mine"], await everything.added_paths()
        assert await everything.removed_paths() == ["g"]
        await fails_with(
            third.with_changesets(
                [ours, clash], on_conflict=dagger.ChangesetsMergeConflict.FAIL_EARLY
            ).is_empty(),
            'conflict between changesets at path "f"',
        )
        print("merge: ok")


anyio.run(main, sys.argv[1])
