"""The generation records (core/generations.py): what a deploy reads from a
target's generation, and the artifact a release runs on each."""

from __future__ import annotations

import pytest

from herotasks.core import generations


class FakeApi:
    def __init__(self):
        self.asked: list[tuple[str, str, str]] = []

    def slug(self, app, slug_id):
        self.asked.append(("slug", app, slug_id))
        return {"id": slug_id, "commit": "c1", "process_types": {"web": "run-web"}}

    def oci_image(self, app, image_id):
        self.asked.append(("oci_image", app, image_id))
        return {"id": image_id, "commit": "c2", "commit_description": "",
                "process_types": {"web": {"name": "web", "display_cmd": "run-web",
                                          "command": "/cnb/process/web"}}}


def test_an_app_without_generation_is_cedar_and_fir_is_read():
    assert generations.of({}).name == "cedar"
    assert generations.of({"generation": {"name": "fir"}}).name == "fir"
    assert generations.known({"generation": {"name": "fir"}})
    assert not generations.known({"generation": {"name": "spruce"}})


def test_fir_one_offs_go_through_launcher_and_cedar_ones_do_not():
    assert generations.GENERATIONS["fir"].one_off("python x.py") == "launcher python x.py"
    assert generations.GENERATIONS["cedar"].one_off("python x.py") == "python x.py"


@pytest.mark.parametrize("name, method, refused", [
    ("cedar", "slug", False), ("cedar", "pipeline", False),
    ("fir", "pipeline", False), ("fir", "slug", True)])
def test_fir_promotes_only_through_a_pipeline(name, method, refused):
    why = generations.GENERATIONS[name].check_promote("app", method)
    assert bool(why) == refused
    if refused:
        assert "OCI images" in why and "pipeline" in why


def test_the_artifact_is_the_slug_or_the_image():
    assert generations.artifact_id({"slug": {"id": "s"}, "oci_image": None}) == "s"
    assert generations.artifact_id({"slug": None, "oci_image": {"id": "i"}}) == "i"
    assert generations.artifact_id({"slug": None}) is None
    api = FakeApi()
    image = generations.artifact(api, "a", {"slug": None, "oci_image": {"id": "i"}})
    assert image["process_types"] == {"web": "run-web"} and image["commit"] == "c2"
    assert generations.artifact(api, "a", {"slug": {"id": "s"}})["commit"] == "c1"
    assert generations.artifact(api, "a", {"slug": None}) is None
    assert api.asked == [("oci_image", "a", "i"), ("slug", "a", "s")]
