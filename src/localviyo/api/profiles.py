"""Handlers of the profile operations: parse the request, call the service, render the document."""

from __future__ import annotations

from typing import Any

from localviyo import jsonapi
from localviyo.api import paging
from localviyo.api.query import INCLUDE, INVALID_CHOICE, additional_fields, csv_parameter, profile_fields
from localviyo.api.request import Request, Response
from localviyo.core.document import parse_create, parse_import, parse_merge, parse_update
from localviyo.core.filter import parse_filter
from localviyo.core.listing import DEFAULT_SORT, SORTS, Sort
from localviyo.core.profile import Profile
from localviyo.errors import Invalid
from localviyo.service import ProfileService


def _render(
    request: Request,
    profile: Profile,
    *,
    status: int = 200,
    additional: list[str] | None = None,
    fields: list[str] | None = None,
    include: bool = False,
    extra: dict[str, Any] | None = None,
) -> Response:
    resource = jsonapi.encode_profile_resource(
        profile.id,
        base_url=request.base_url,
        revision=request.revision,
        attributes=_attributes(request, profile, additional, fields),
        relationship_data=include or request.revision.relationship_data,
    )
    rest = b"," + jsonapi.encode(extra)[1:] if extra else b"}"
    return Response(status, b'{"data":' + resource + rest)


def _attributes(
    request: Request, profile: Profile, additional: list[str] | None, fields: list[str] | None
) -> dict[str, Any] | bytes:
    if fields is None and not additional:
        return jsonapi.encode_attributes(profile, request.revision)
    attributes = jsonapi.profile_attributes(profile, request.revision, additional or ())
    return attributes if fields is None else jsonapi.select_fields(attributes, fields)


def _write_options(request: Request) -> list[str]:
    # Create and update responses take additional-fields[profile] from revision 2024-10-15 on.
    return additional_fields(request) if request.revision.additional_fields_on_writes else []


def create_profile(request: Request, service: ProfileService) -> Response:
    changes = parse_create(request.json(), request.revision, service.rules)
    additional = _write_options(request)
    profile = service.create_profile(request.account_id, changes)
    return _render(request, profile, status=201, additional=additional)


def get_profile(request: Request, service: ProfileService) -> Response:
    fields = profile_fields(request)
    additional = additional_fields(request)
    include = csv_parameter(request, "include", INCLUDE)
    profile = service.get_profile(request.account_id, request.path_params["id"])
    # Lists and segments are not modelled: an `include` yields empty relationship data.
    extra: dict[str, Any] = {"included": []} if include else {}
    return _render(request, profile, additional=additional, fields=fields, include=bool(include), extra=extra)


def update_profile(request: Request, service: ProfileService) -> Response:
    profile_id = request.path_params["id"]
    changes = parse_update(request.json(), profile_id, request.revision, service.rules)
    additional = _write_options(request)
    profile = service.update_profile(request.account_id, profile_id, changes)
    return _render(request, profile, additional=additional)


def get_profiles(request: Request, service: ProfileService) -> Response:
    fields = profile_fields(request)
    additional = additional_fields(request)
    raw_sort = request.query.get("sort", str(DEFAULT_SORT))
    if raw_sort not in SORTS:
        raise Invalid(INVALID_CHOICE.format(value=raw_sort, parameter="sort"), parameter="sort")
    sort = Sort.parse(raw_sort)
    raw_filter = request.query.get("filter")
    where = parse_filter(raw_filter) if raw_filter else None
    size = paging.page_size(request)
    cursor = paging.page_cursor(request, sort)
    page = service.get_profiles(
        request.account_id,
        where,
        sort,
        size,
        start=cursor.position if cursor else None,
        backwards=bool(cursor and cursor.backwards),
    )
    data = [
        jsonapi.encode_profile_resource(
            profile.id,
            base_url=request.base_url,
            revision=request.revision,
            attributes=_attributes(request, profile, additional, fields),
            relationship_data=False,
        )
        for profile in page.profiles
    ]
    links = paging.links(request, sort, page.next, page.prev)
    return Response(200, b'{"data":[' + b",".join(data) + b'],"links":' + jsonapi.encode(links) + b"}")


def create_or_update_profile(request: Request, service: ProfileService) -> Response:
    profile_id, changes = parse_import(request.json(), request.revision, service.rules)
    additional = _write_options(request)
    profile, created = service.create_or_update_profile(request.account_id, profile_id, changes)
    return _render(request, profile, status=201 if created else 200, additional=additional)


def merge_profiles(request: Request, service: ProfileService) -> Response:
    destination_id, source_id = parse_merge(request.json(), service.rules)
    profile = service.merge_profiles(request.account_id, destination_id, source_id)
    self_link = jsonapi.resource_path(request.base_url, request.revision, "profiles", profile.id)
    document = {"data": {"type": "profile", "id": profile.id, "links": {"self": self_link}}}
    return Response(201, jsonapi.encode(document))
