"""Webhook endpoints through the SoftAfrik API: ``/api/webhooks``."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.scopes import WEBHOOKS_MANAGE
from notifications.webhooks import selectors, services
from notifications.webhooks.event_types import EVENT_TYPES


class EndpointIn(serializers.Serializer):
    url = serializers.URLField(max_length=500)
    events = serializers.ListField(
        child=serializers.CharField(max_length=40), required=False, default=list, max_length=len(EVENT_TYPES)
    )


class EndpointOut(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.URLField()
    events = serializers.ListField(child=serializers.CharField(), source="event_types")
    enabled = serializers.BooleanField(source="is_enabled")
    created_at = serializers.DateTimeField()


class EndpointCreatedOut(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.URLField()
    events = serializers.ListField(child=serializers.CharField())
    secret = serializers.CharField(help_text="whsec_…: shown this once")


class WebhooksView(APIView):
    required_scope = WEBHOOKS_MANAGE

    @extend_schema(responses={200: EndpointOut(many=True)}, tags=["webhooks"], summary="Your webhook endpoints")
    def get(self, request):
        return Response(EndpointOut(selectors.endpoint_list(tenant=request.user.tenant), many=True).data)

    @extend_schema(
        request=EndpointIn,
        responses={201: EndpointCreatedOut},
        tags=["webhooks"],
        summary="Add a webhook endpoint for status events",
        description="`events` empty or absent: every event type. The secret is shown in this answer only.",
    )
    def post(self, request):
        serializer = EndpointIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        created = services.endpoint_create(tenant=request.user.tenant, url=data["url"], event_types=data["events"])
        endpoint = created.endpoint
        body = {"id": str(endpoint.pk), "url": endpoint.url, "events": endpoint.event_types, "secret": created.secret}
        return Response(body, status=status.HTTP_201_CREATED)


class WebhookDetailView(APIView):
    required_scope = WEBHOOKS_MANAGE

    @extend_schema(responses={204: None}, tags=["webhooks"], summary="Remove a webhook endpoint")
    def delete(self, request, endpoint_id: str):
        endpoint = selectors.endpoint_get(tenant=request.user.tenant, endpoint_id=endpoint_id)
        services.endpoint_delete(endpoint=endpoint)
        return Response(status=status.HTTP_204_NO_CONTENT)
