"""Invoices and statements in the admin: platform admins see every tenant's, a tenant's
staff its own; both download the PDF and the CSV; only platform admins mark one paid.
Invoices are written by beat (``billing.invoices``), never edited here."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin, messages
from django.http import Http404, HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline

from billing.invoices import invoice_mark_paid, tenant_zone
from billing.models import Invoice, InvoiceLine, InvoiceStatus
from billing.money import amount_str
from softafrik.errors import DomainError
from softafrik.tenant_admin import (
    ReadOnlyPermissions,
    TenantReadOnlyAdmin,
    is_platform_admin,
    is_tenant_staff,
)


class InvoiceLineInline(ReadOnlyPermissions, TabularInline):
    model = InvoiceLine
    fields = ("channel", "country", "sender", "quantity", "amount_shown")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("invoice").defer("invoice__pdf", "invoice__csv")

    @admin.display(description=_("amount"))
    def amount_shown(self, obj):
        return amount_str(obj.amount, unit=obj.invoice.unit)

    def has_view_permission(self, request, obj=None):
        # Whoever may see the invoice (InvoiceAdmin scopes it) sees its lines, whatever
        # Django permissions a tenant's staff was given.
        return is_platform_admin(request) or is_tenant_staff(request)


@admin.register(Invoice)
class InvoiceAdmin(TenantReadOnlyAdmin):
    tenant_field = "account__tenant"
    list_display = ("number", "tenant", "period", "total_shown", "status", "paid_at", "documents")
    list_filter = ("status", "account__tenant")
    search_fields = ("number",)
    fields = ("number", "tenant", "period", "total_shown", "status", "paid_at", "documents", "created_at")
    readonly_fields = fields
    inlines = (InvoiceLineInline,)
    actions = ("mark_paid",)

    def get_queryset(self, request):
        # The documents stay in the database until downloaded.
        return super().get_queryset(request).select_related("account__tenant").defer("pdf", "csv")

    def get_list_filter(self, request):
        return self.list_filter if is_platform_admin(request) else ("status",)

    @admin.display(description=_("tenant"), ordering="account__tenant__name")
    def tenant(self, obj):
        return obj.account.tenant

    @admin.display(description=_("period"), ordering="period_start")
    def period(self, obj):
        zone = tenant_zone(obj.account.tenant.timezone)
        first = obj.period_start.astimezone(zone)
        last = (obj.period_end - timedelta(microseconds=1)).astimezone(zone)
        return f"{first:%Y-%m-%d} to {last:%Y-%m-%d}"

    @admin.display(description=_("total"), ordering="total")
    def total_shown(self, obj):
        return f"{amount_str(obj.total, unit=obj.unit)} {obj.unit}"

    @admin.display(description=_("download"))
    def documents(self, obj):
        return format_html(
            '<a href="{}">PDF</a> | <a href="{}">CSV</a>',
            reverse("admin:billing_invoice_pdf", args=[obj.pk]),
            reverse("admin:billing_invoice_csv", args=[obj.pk]),
        )

    def get_urls(self):
        own = [
            path("<int:object_id>/pdf/", self.admin_site.admin_view(self.pdf_view), name="billing_invoice_pdf"),
            path("<int:object_id>/csv/", self.admin_site.admin_view(self.csv_view), name="billing_invoice_csv"),
        ]
        return own + super().get_urls()

    def _scoped(self, request, object_id: int) -> Invoice:
        """The invoice if this user may see it; another tenant's is not found."""
        if not self.has_view_permission(request):
            raise Http404
        invoice = super().get_queryset(request).filter(pk=object_id).first()
        if invoice is None:
            raise Http404
        return invoice

    def pdf_view(self, request, object_id: int):
        invoice = self._scoped(request, object_id)
        response = HttpResponse(bytes(invoice.pdf), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{invoice.number}.pdf"'
        return response

    def csv_view(self, request, object_id: int):
        invoice = self._scoped(request, object_id)
        response = HttpResponse(invoice.csv, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{invoice.number}.csv"'
        return response

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not is_platform_admin(request):
            actions.pop("mark_paid", None)
        return actions

    @admin.action(description=_("Mark paid"))
    def mark_paid(self, request, queryset):
        if not is_platform_admin(request):
            return
        skipped = queryset.exclude(status=InvoiceStatus.DUE).count()
        if skipped:
            messages.warning(request, f"{skipped} selected invoice(s) not due: left as they are.")
        for invoice in queryset.filter(status=InvoiceStatus.DUE).select_related("account"):
            try:
                invoice_mark_paid(invoice=invoice, user=request.user)
                messages.success(request, f"{invoice.number}: paid.")
            except DomainError as exc:
                messages.warning(request, f"{invoice.number}: {exc.message}")
