"""The reports page (/admin/reports/): any period, grouped by day and any dimensions,
shown and downloaded as CSV or XLSX, for the staff user's tenant (a superuser picks one)."""

from __future__ import annotations

from itertools import islice

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Tenant
from billing import money
from billing.models import BillingAccount
from reports.export import csv_lines, report_header, report_line, xlsx_file
from reports.forms import ReportForm
from reports.selectors import report_rows, tenant_today
from softafrik.tenant_admin import is_platform_admin, user_tenant

PAGE_ROWS = 500  # rows the page shows; a download has them all
EXPORTS = ("csv", "xlsx")


def report_view(request):
    superuser = is_platform_admin(request)
    tenants = list(Tenant.objects.order_by("name")) if superuser else None
    own = None if superuser else user_tenant(request)
    if not superuser and own is None:
        raise PermissionDenied
    today = tenant_today(own) if own else timezone.now().date()
    data = request.GET.copy()
    if "start" not in data and "end" not in data:
        defaults = ReportForm.defaults(today)
        data.setlist("group_by", data.getlist("group_by") or defaults["group_by"])
        data["start"], data["end"] = defaults["start"].isoformat(), defaults["end"].isoformat()
    form = ReportForm(data, tenants=tenants)
    export = request.GET.get("export", "")
    if export and export not in EXPORTS:
        form.add_error(None, _("Unknown export format %(format)s: csv or xlsx.") % {"format": export})
    context = {**admin.site.each_context(request), "title": _("Reports"), "form": form}
    if not form.is_valid():
        return TemplateResponse(request, "reports/report.html", context, status=400)
    tenant = own or next(t for t in tenants if t.pk == form.cleaned_data["tenant"])
    start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    # Grouping follows the order of the choices, whatever the order of the query string.
    group_by = [name for name, _label in form.fields["group_by"].choices if name in form.cleaned_data["group_by"]]
    channel = form.cleaned_data["channel"]
    account = BillingAccount.objects.filter(tenant=tenant).first()
    unit = account.unit if account else money.CREDITS
    header = report_header(group_by)
    lines = (
        report_line(key, figures, group_by=group_by, unit=unit)
        for key, figures in report_rows(tenant=tenant, start=start, end=end, group_by=group_by, channel=channel)
    )
    filename = f"report-{start.isoformat()}-{end.isoformat()}"
    if export == "csv":
        response = StreamingHttpResponse(csv_lines(header, lines), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
        return response
    if export == "xlsx":
        return FileResponse(
            xlsx_file(header, lines),
            as_attachment=True,
            filename=f"{filename}.xlsx",
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    rows = list(islice(lines, PAGE_ROWS + 1))
    context.update(
        tenant=tenant,
        header=header,
        rows=rows[:PAGE_ROWS],
        truncated=len(rows) > PAGE_ROWS,
        query=request.GET.urlencode() if "start" in request.GET else data.urlencode(),
    )
    return TemplateResponse(request, "reports/report.html", context)
