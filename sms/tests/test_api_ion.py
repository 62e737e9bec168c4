"""ION SMS Gateway dialect: UNIDES, MULDES, MULDESP, status, cancel, errors in ION's names."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from notifications.core.status import DeliveryStatus
from sms.models import BlacklistedNumber, SenderName, SenderStatus, SmsKind, SmsMessage, SmsRecipient, SmsState
from sms.services import BLACKLISTED
from softafrik.dialects import ion

pytestmark = pytest.mark.django_db

TG = "+22890123456"
TG2 = "+22891234567"
CI = "+2250701020304"
TEXT = "Votre code SoftAfrik est 1234"


@pytest.fixture(autouse=True)
def _sms_ready(sender, log_route):
    """An approved default sender ("SoftAfrik") and an active LOG route."""


def unides(client, **fields):
    return client.post("/api/V1/sms/unides", {"emetteur": "SoftAfrik", "destinataire": TG, "corps": TEXT, **fields})


def muldes(client, numeros, **fields):
    return client.post("/api/V1/sms/muldes", {"emetteur": "SoftAfrik", "numeros": numeros, "corps": TEXT, **fields})


def muldesp(client, numeros, **fields):
    body = {
        "emetteur": "SoftAfrik",
        "numeros": numeros,
        "corps": TEXT,
        "dateDebut": "2099-07-01T08:00:00",
        "dateFin": "2099-07-31T18:00:00",
        "nbParJour": 500,
        "intervalleMinutes": 30,
        **fields,
    }
    return client.post("/api/V1/sms/muldesp", body)


def set_status(number, status, error=""):
    SmsRecipient.objects.filter(number=number).update(status=status, error=error)


# --- UNIDES ----------------------------------------------------------------------------


def test_unides_creates_one_send_to_one_number_and_answers_its_ref(owner):
    response = unides(owner)
    assert response.status_code == 201
    message = SmsMessage.objects.get()
    assert response.json() == {
        "ref": str(message.pk),
        "type": "UNIDES",
        "statut": "EN_ATTENTE",
        "cout": "1.00",
        "unite": "credits",
    }
    assert (message.tenant_id, message.dialect, message.kind, message.sender, message.text) == (
        owner.tenant.pk,
        "ion",
        SmsKind.SINGLE,
        "SoftAfrik",
        TEXT,
    )
    assert list(SmsRecipient.objects.values_list("number", "status")) == [(TG, DeliveryStatus.PENDING)]


def test_unides_reads_a_national_number_in_the_tenants_region(owner):
    response = unides(owner, destinataire="90123456")
    assert response.status_code == 201
    assert list(SmsRecipient.objects.values_list("number", flat=True)) == [TG]


def test_unides_without_emetteur_uses_the_default_sender(owner):
    response = owner.post("/api/V1/sms/unides", {"destinataire": CI, "corps": TEXT})
    assert response.status_code == 201
    assert SmsMessage.objects.get().sender == "SoftAfrik"


def test_unides_invalid_destinataire_is_400_naming_destinataire_and_sends_nothing(owner):
    response = unides(owner, destinataire="12345")
    assert response.status_code == 400
    assert response.json()["field"] == "destinataire"
    assert response.json()["message"] == "Invalid number '12345': not a valid number for region TG."
    assert SmsMessage.objects.count() == 0


def test_unides_unapproved_emetteur_is_400_naming_emetteur_and_sends_nothing(owner):
    SenderName.objects.create(tenant=owner.tenant, name="Pending1")
    response = unides(owner, emetteur="Pending1")
    assert response.status_code == 400
    assert (response.json()["field"], response.json()["error"]) == ("emetteur", "sender_not_approved")
    assert SmsMessage.objects.count() == 0


def test_unides_empty_corps_is_400_naming_corps_and_sends_nothing(owner):
    response = unides(owner, corps="")
    assert response.status_code == 400
    assert response.json()["field"] == "corps"
    assert SmsMessage.objects.count() == 0


def test_unides_corps_over_the_parts_limit_is_400_naming_corps(owner, settings):
    settings.SMS_MAX_PARTS = 2
    response = unides(owner, corps="a" * 307)  # 3 GSM parts of 153
    assert response.status_code == 400
    assert response.json()["field"] == "corps"
    assert SmsMessage.objects.count() == 0


def test_unides_missing_destinataire_is_400_naming_destinataire(owner):
    response = owner.post("/api/V1/sms/unides", {"emetteur": "SoftAfrik", "corps": TEXT})
    assert response.status_code == 400
    assert response.json()["field"] == "destinataire"
    assert SmsMessage.objects.count() == 0


def test_161_gsm_characters_are_two_parts_charged_per_number(owner):
    response = unides(owner, corps="a" * 161)
    assert response.status_code == 201
    message = SmsMessage.objects.get()
    assert (message.encoding, message.parts, message.credits) == ("gsm7", 2, 2)
    assert SmsRecipient.objects.get().parts == 2


# --- MULDES ----------------------------------------------------------------------------


def test_muldes_sends_the_valid_numbers_and_lists_the_invalid_in_rejets(owner):
    response = muldes(owner, [TG, "12345", CI])
    assert response.status_code == 201
    message = SmsMessage.objects.get()
    assert response.json() == {
        "ref": str(message.pk),
        "type": "MULDES",
        "statut": "EN_ATTENTE",
        "cout": "2.00",
        "unite": "credits",
        "nbDestinataires": 2,
        "rejets": [{"numero": "12345", "motif": "not a valid number for region TG"}],
    }
    assert message.kind == SmsKind.BULK
    assert sorted(SmsRecipient.objects.values_list("number", flat=True)) == sorted([TG, CI])
    assert message.credits == 2


def test_muldes_sends_once_to_a_number_given_twice_in_two_formats(owner):
    response = muldes(owner, [TG, "90 12 34 56", "0022890123456"])
    assert (response.json()["nbDestinataires"], response.json()["rejets"]) == (1, [])
    assert list(SmsRecipient.objects.values_list("number", flat=True)) == [TG]
    assert SmsMessage.objects.get().credits == 1


def test_muldes_with_only_invalid_numbers_is_400_naming_numeros_and_sends_nothing(owner):
    response = muldes(owner, ["12345", "abc"])
    assert response.status_code == 400
    assert response.json()["field"] == "numeros"
    assert SmsMessage.objects.count() == 0


def test_muldes_with_an_empty_list_is_400_naming_numeros(owner):
    response = muldes(owner, [])
    assert response.status_code == 400
    assert response.json()["field"] == "numeros"
    assert SmsMessage.objects.count() == 0


def test_muldes_with_numeros_not_a_list_is_400_naming_numeros(owner):
    response = muldes(owner, TG)
    assert response.status_code == 400
    assert response.json()["field"] == "numeros"
    assert SmsMessage.objects.count() == 0


def test_blacklisted_number_ends_echec_with_its_motif_and_is_not_charged(owner):
    BlacklistedNumber.objects.create(tenant=owner.tenant, number=CI)
    ref = muldes(owner, [TG, CI]).json()["ref"]
    body = owner.get(f"/api/V1/sms/{ref}").json()
    assert body["destinataires"] == [
        {"numero": TG, "statut": "EN_ATTENTE", "motif": None},
        {"numero": CI, "statut": "ECHEC", "motif": BLACKLISTED},
    ]
    assert SmsMessage.objects.get().credits == 1


def test_unides_to_a_blacklisted_number_is_echec_at_once(owner):
    BlacklistedNumber.objects.create(tenant=owner.tenant, number=TG)
    response = unides(owner)
    assert response.status_code == 201
    assert response.json()["statut"] == "ECHEC"


# --- MULDESP ---------------------------------------------------------------------------


def test_muldesp_stores_the_campaign_with_naive_dates_in_the_tenants_zone_utc_by_default(owner):
    response = muldesp(owner, [TG, CI])
    assert response.status_code == 201
    message = SmsMessage.objects.get()
    assert response.json() == {
        "ref": str(message.pk),
        "type": "MULDESP",
        "statut": "EN_ATTENTE",
        "cout": "0.00",  # a campaign pays batch by batch
        "unite": "credits",
        "nbDestinataires": 2,
        "rejets": [],
        "dateDebut": "2099-07-01T08:00:00",
        "dateFin": "2099-07-31T18:00:00",
    }
    assert (message.kind, message.window_start, message.window_end, message.per_day, message.interval_minutes) == (
        SmsKind.CAMPAIGN,
        datetime(2099, 7, 1, 8, tzinfo=UTC),
        datetime(2099, 7, 31, 18, tzinfo=UTC),
        500,
        30,
    )


def test_muldesp_reads_a_date_with_an_offset_at_that_offset_and_echoes_it_as_sent(owner):
    response = muldesp(owner, [TG], dateDebut="2099-07-01T08:00:00+01:00")
    assert response.json()["dateDebut"] == "2099-07-01T08:00:00+01:00"
    assert SmsMessage.objects.get().window_start == datetime(2099, 7, 1, 7, tzinfo=UTC)


def test_muldesp_status_reports_the_campaign_and_its_planifies(owner):
    ref = muldesp(owner, [TG, CI, TG2]).json()["ref"]
    SmsRecipient.objects.filter(number=TG).update(status=DeliveryStatus.SENT, next_attempt_at=timezone.now())
    body = owner.get(f"/api/V1/sms/{ref}").json()
    assert (body["type"], body["statut"], body["planifies"]) == ("MULDESP", "EN_ATTENTE", 2)
    assert (body["dateDebut"], body["dateFin"], body["nbParJour"], body["intervalleMinutes"]) == (
        "2099-07-01T08:00:00Z",
        "2099-07-31T18:00:00Z",
        500,
        30,
    )
    assert body["progression"] == {"envoyes": 1, "en_attente": 2, "echecs": 0, "delivres": 0}


def test_muldesp_datefin_before_datedebut_is_400_naming_datefin_and_sends_nothing(owner):
    response = muldesp(owner, [TG], dateFin="2099-06-30T08:00:00")
    assert response.status_code == 400
    assert response.json()["field"] == "dateFin"
    assert SmsMessage.objects.count() == 0


def test_muldesp_datefin_in_the_past_is_400_naming_datefin(owner):
    response = muldesp(owner, [TG], dateDebut="2020-01-01T08:00:00Z", dateFin="2020-01-31T08:00:00Z")
    assert response.status_code == 400
    assert response.json()["field"] == "dateFin"
    assert SmsMessage.objects.count() == 0


def test_muldesp_datedebut_in_the_past_starts_now(owner):
    start = (timezone.now() - timedelta(hours=1)).isoformat()
    response = muldesp(owner, [TG], dateDebut=start)
    assert response.status_code == 201
    message = SmsMessage.objects.get()
    assert message.window_start < message.next_batch_at <= timezone.now()


@pytest.mark.parametrize(
    "value", ["01/07/2099 08:00", "demain", 4102444800, "20990701", "2099-07", "2099-02-30", "2099-7-1"]
)
def test_muldesp_datedebut_not_an_iso_date_or_datetime_is_400_naming_datedebut(owner, value):
    response = muldesp(owner, [TG], dateDebut=value)
    assert response.status_code == 400
    assert response.json()["field"] == "dateDebut"
    assert response.json()["message"] == (
        "dateDebut: Expected an ISO 8601 date (2025-10-10) or date and time (2025-10-10T08:00:00Z)."
    )
    assert SmsMessage.objects.count() == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [("nbParJour", 0), ("intervalleMinutes", 0), ("nbParJour", 2**31), ("intervalleMinutes", "x")],
)
def test_muldesp_bad_rate_is_400_naming_the_field(owner, field, value):
    response = muldesp(owner, [TG], **{field: value})
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert SmsMessage.objects.count() == 0


def test_muldesp_with_only_invalid_numbers_is_400_naming_numeros(owner):
    response = muldesp(owner, ["12345"])
    assert response.status_code == 400
    assert response.json()["field"] == "numeros"
    assert SmsMessage.objects.count() == 0


def in_zone(tenant, name: str) -> None:
    tenant.timezone = name
    tenant.save(update_fields=["timezone"])


def test_muldesp_bare_dates_run_from_the_start_of_datedebut_to_the_end_of_datefin(owner):
    response = muldesp(owner, [TG], dateDebut="2099-07-01", dateFin="2099-07-31")
    assert response.status_code == 201
    assert (response.json()["dateDebut"], response.json()["dateFin"]) == ("2099-07-01", "2099-07-31")
    message = SmsMessage.objects.get()
    assert (message.window_start, message.window_end) == (
        datetime(2099, 7, 1, tzinfo=UTC),
        datetime(2099, 8, 1, tzinfo=UTC),
    )


def test_muldesp_bare_dates_are_days_in_the_tenants_time_zone(owner):
    in_zone(owner.tenant, "Africa/Libreville")  # UTC+1
    response = muldesp(owner, [TG], dateDebut="2099-07-01", dateFin="2099-07-31")
    assert response.status_code == 201
    message = SmsMessage.objects.get()
    assert (message.window_start, message.window_end) == (
        datetime(2099, 6, 30, 23, tzinfo=UTC),
        datetime(2099, 7, 31, 23, tzinfo=UTC),
    )


def test_muldesp_naive_datetimes_are_in_the_tenants_time_zone(owner):
    in_zone(owner.tenant, "Africa/Libreville")
    response = muldesp(owner, [TG])
    assert (response.json()["dateDebut"], response.json()["dateFin"]) == ("2099-07-01T08:00:00", "2099-07-31T18:00:00")
    message = SmsMessage.objects.get()
    assert (message.window_start, message.window_end) == (
        datetime(2099, 7, 1, 7, tzinfo=UTC),
        datetime(2099, 7, 31, 17, tzinfo=UTC),
    )


def test_muldesp_a_bare_date_and_a_datetime_mix(owner):
    response = muldesp(owner, [TG], dateDebut="2099-07-01T08:00:00Z", dateFin="2099-07-01")
    assert response.status_code == 201
    assert SmsMessage.objects.get().window_end == datetime(2099, 7, 2, tzinfo=UTC)


def test_muldesp_the_same_bare_date_twice_is_that_whole_day(owner):
    response = muldesp(owner, [TG], dateDebut="2099-07-01", dateFin="2099-07-01")
    assert response.status_code == 201
    message = SmsMessage.objects.get()
    assert message.window_end - message.window_start == timedelta(days=1)


def test_muldesp_bare_datefin_before_bare_datedebut_is_400_naming_datefin(owner):
    response = muldesp(owner, [TG], dateDebut="2099-07-02", dateFin="2099-07-01")
    assert response.status_code == 400
    assert (response.json()["field"], response.json()["message"]) == ("dateFin", "dateFin: Must be after dateDebut.")
    assert SmsMessage.objects.count() == 0


def test_muldesp_bare_datefin_today_is_still_in_the_future(owner):
    today = timezone.now().date().isoformat()
    response = muldesp(owner, [TG], dateDebut=today, dateFin=today)
    assert response.status_code == 201


def test_muldesp_bare_datefin_on_the_last_representable_day_is_400_naming_datefin(owner):
    response = muldesp(owner, [TG], dateFin="9999-12-31")
    assert response.status_code == 400
    assert (response.json()["field"], response.json()["message"]) == (
        "dateFin",
        "dateFin: Datetime value out of range.",
    )
    assert SmsMessage.objects.count() == 0


def test_muldesp_naive_datetime_a_dst_change_skips_reads_with_the_offset_before_it(owner):
    in_zone(owner.tenant, "Europe/Paris")  # 2099-03-29: 02:00 +01 -> 03:00 +02
    response = muldesp(owner, [TG], dateDebut="2099-03-29T02:30:00")
    assert response.status_code == 201
    assert SmsMessage.objects.get().window_start == datetime(2099, 3, 29, 1, 30, tzinfo=UTC)


def test_muldesp_bare_date_whose_midnight_a_dst_change_skips_starts_when_that_day_does(owner):
    in_zone(owner.tenant, "America/Santiago")  # 2099-09-06: 00:00 -04 -> 01:00 -03
    response = muldesp(owner, [TG], dateDebut="2099-09-06", dateFin="2099-09-30")
    assert response.status_code == 201
    assert SmsMessage.objects.get().window_start == datetime(2099, 9, 6, 4, tzinfo=UTC)


def test_muldesp_status_of_a_bare_date_campaign_gives_the_instants(owner):
    in_zone(owner.tenant, "Africa/Libreville")
    ref = muldesp(owner, [TG], dateDebut="2099-07-01", dateFin="2099-07-31").json()["ref"]
    body = owner.get(f"/api/V1/sms/{ref}").json()
    assert (body["dateDebut"], body["dateFin"]) == ("2099-06-30T23:00:00Z", "2099-07-31T23:00:00Z")


# --- Status ----------------------------------------------------------------------------


def test_status_maps_each_numbers_status_and_motif(owner):
    ref = muldes(owner, [TG, CI, TG2]).json()["ref"]
    set_status(TG, DeliveryStatus.SENT)
    set_status(CI, DeliveryStatus.FAILED, "operator: absent subscriber")
    set_status(TG2, DeliveryStatus.DELIVERED)
    response = owner.get(f"/api/V1/sms/{ref}")
    assert response.status_code == 200
    body = response.json()
    message = SmsMessage.objects.get()
    assert body == {
        "ref": ref,
        "type": "MULDES",
        "statut": "ENVOYE",
        "emetteur": "SoftAfrik",
        "corps": TEXT,
        "dateCreation": body["dateCreation"],
        "nbDestinataires": 3,
        "progression": {"envoyes": 1, "en_attente": 0, "echecs": 1, "delivres": 1},
        "destinataires": [
            {"numero": TG, "statut": "ENVOYE", "motif": None},
            {"numero": CI, "statut": "ECHEC", "motif": "operator: absent subscriber"},
            {"numero": TG2, "statut": "DELIVRE", "motif": None},
        ],
        "suivant": None,
    }
    assert timedelta(0) <= message.created_at - datetime.fromisoformat(body["dateCreation"]) < timedelta(milliseconds=1)


@pytest.mark.parametrize(
    ("statuses", "statut"),
    [
        ((DeliveryStatus.SENT, DeliveryStatus.SENDING), "EN_ATTENTE"),
        ((DeliveryStatus.FAILED, DeliveryStatus.FAILED), "ECHEC"),
        ((DeliveryStatus.DELIVERED, DeliveryStatus.DELIVERED), "DELIVRE"),
        ((DeliveryStatus.DELIVERED, DeliveryStatus.FAILED), "ENVOYE"),
    ],
)
def test_status_overall_statut_follows_the_numbers(owner, statuses, statut):
    ref = muldes(owner, [TG, CI]).json()["ref"]
    for number, status in zip([TG, CI], statuses, strict=True):
        set_status(number, status)
    assert owner.get(f"/api/V1/sms/{ref}").json()["statut"] == statut


def test_status_shows_a_claimed_number_as_en_attente(owner):
    ref = unides(owner).json()["ref"]
    set_status(TG, DeliveryStatus.SENDING)
    assert owner.get(f"/api/V1/sms/{ref}").json()["destinataires"] == [
        {"numero": TG, "statut": "EN_ATTENTE", "motif": None}
    ]


def test_status_pages_destinataires_with_apres_and_suivant(owner, monkeypatch):
    monkeypatch.setattr(ion, "DESTINATAIRES_PAGE", 2)
    ref = muldes(owner, [TG, CI, TG2]).json()["ref"]
    first = owner.get(f"/api/V1/sms/{ref}").json()
    assert [d["numero"] for d in first["destinataires"]] == [TG, CI]
    assert first["suivant"] == SmsRecipient.objects.get(number=CI).pk
    second = owner.get(f"/api/V1/sms/{ref}", {"apres": first["suivant"]}).json()
    assert ([d["numero"] for d in second["destinataires"]], second["suivant"]) == ([TG2], None)
    assert second["progression"] == {"envoyes": 0, "en_attente": 3, "echecs": 0, "delivres": 0}


def test_status_with_a_bad_apres_is_400_naming_apres(owner):
    ref = unides(owner).json()["ref"]
    response = owner.get(f"/api/V1/sms/{ref}", {"apres": "x"})
    assert response.status_code == 400
    assert response.json()["field"] == "apres"


@pytest.mark.parametrize("ref", ["not-a-uuid", "6f1c2a7e-0000-4000-8000-000000000000"])
def test_status_of_an_unknown_ref_is_404(owner, ref):
    response = owner.get(f"/api/V1/sms/{ref}")
    assert response.status_code == 404
    assert response.json()["field"] == "ref"


# --- Cancel ----------------------------------------------------------------------------


def test_annuler_cancels_the_numbers_not_yet_sent(owner):
    ref = muldes(owner, [TG, CI, TG2]).json()["ref"]
    set_status(TG, DeliveryStatus.SENT)
    response = owner.post(f"/api/V1/sms/{ref}/annuler")
    assert response.status_code == 200
    assert response.json() == {"ref": ref, "statut": "ANNULE", "annules": 2}
    body = owner.get(f"/api/V1/sms/{ref}").json()
    assert body["statut"] == "ANNULE"
    assert body["destinataires"] == [
        {"numero": TG, "statut": "ENVOYE", "motif": None},
        {"numero": CI, "statut": "ECHEC", "motif": "cancelled"},
        {"numero": TG2, "statut": "ECHEC", "motif": "cancelled"},
    ]


def test_annuler_a_campaign_stops_its_batches(owner):
    ref = muldesp(owner, [TG, CI]).json()["ref"]
    assert owner.post(f"/api/V1/sms/{ref}/annuler").json()["annules"] == 2
    message = SmsMessage.objects.get()
    assert (message.state, message.next_batch_at) == (SmsState.CANCELLED, None)
    assert owner.get(f"/api/V1/sms/{ref}").json()["planifies"] == 0


def test_annuler_twice_is_400_and_changes_nothing(owner):
    ref = unides(owner).json()["ref"]
    owner.post(f"/api/V1/sms/{ref}/annuler")
    response = owner.post(f"/api/V1/sms/{ref}/annuler")
    assert response.status_code == 400
    assert (response.json()["error"], response.json()["field"]) == ("not_cancellable", "ref")
    assert SmsMessage.objects.get().state == SmsState.CANCELLED


def test_annuler_a_finished_campaign_is_400(owner):
    ref = muldesp(owner, [TG]).json()["ref"]
    SmsMessage.objects.update(state=SmsState.DONE)
    set_status(TG, DeliveryStatus.DELIVERED)
    response = owner.post(f"/api/V1/sms/{ref}/annuler")
    assert response.status_code == 400
    assert owner.get(f"/api/V1/sms/{ref}").json()["statut"] == "DELIVRE"


def test_annuler_a_send_whose_numbers_all_went_out_is_400(owner):
    ref = unides(owner).json()["ref"]
    set_status(TG, DeliveryStatus.DELIVERED)
    response = owner.post(f"/api/V1/sms/{ref}/annuler")
    assert response.status_code == 400
    assert owner.get(f"/api/V1/sms/{ref}").json()["statut"] == "DELIVRE"


# --- Keys and tenants ------------------------------------------------------------------


def test_without_a_key_sending_is_401_and_sends_nothing(owner):
    response = owner.client.post(
        "/api/V1/sms/unides", {"emetteur": "SoftAfrik", "destinataire": TG, "corps": TEXT}, format="json"
    )
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert SmsMessage.objects.count() == 0


def test_with_a_wrong_key_status_is_401(owner):
    ref = unides(owner).json()["ref"]
    response = owner.client.get(f"/api/V1/sms/{ref}", headers={"X-API-KEY": "sk_nope_nope"})
    assert response.status_code == 401


def test_outsider_gets_404_for_the_owners_send(owner, outsider):
    ref = unides(owner).json()["ref"]
    response = outsider.get(f"/api/V1/sms/{ref}")
    assert response.status_code == 404
    assert response.json() == {
        "error": "not_found",
        "message": "Unknown reference.",
        "field": "ref",
        "fields": {"ref": ["Unknown reference."]},
    }


def test_outsider_cannot_cancel_the_owners_send(owner, outsider):
    ref = muldes(owner, [TG, CI]).json()["ref"]
    response = outsider.post(f"/api/V1/sms/{ref}/annuler")
    assert response.status_code == 404
    assert SmsMessage.objects.get().state == SmsState.ACTIVE
    assert set(SmsRecipient.objects.values_list("status", flat=True)) == {DeliveryStatus.PENDING}


def test_outsider_cannot_send_with_the_owners_sender(owner, outsider):
    response = unides(outsider)
    assert response.status_code == 400
    assert response.json()["field"] == "emetteur"
    assert SmsMessage.objects.count() == 0


# --- Values of the wrong JSON type -----------------------------------------------------

WRONG_TYPES = [None, [], {}, {"a": {}}, [TG]]


@pytest.mark.parametrize("field", ["emetteur", "destinataire", "corps"])
@pytest.mark.parametrize("value", WRONG_TYPES)
def test_unides_field_of_the_wrong_json_type_is_400_naming_it(owner, field, value):
    response = unides(owner, **{field: value})
    assert response.status_code == 400
    assert (response.json()["error"], response.json()["field"]) == ("invalid", field)
    assert SmsMessage.objects.count() == 0


@pytest.mark.parametrize("value", [None, [], {}, [TG]])
def test_muldes_numero_of_the_wrong_json_type_is_400_naming_it(owner, value):
    response = muldes(owner, [TG, value])
    assert response.status_code == 400
    assert (response.json()["error"], response.json()["field"]) == ("invalid", "numeros.1")
    assert SmsMessage.objects.count() == 0


@pytest.mark.parametrize("field", ["dateDebut", "dateFin", "nbParJour", "intervalleMinutes"])
@pytest.mark.parametrize("value", [*WRONG_TYPES, True, 1.5])
def test_muldesp_field_of_the_wrong_json_type_is_400_naming_it(owner, field, value):
    response = muldesp(owner, [TG], **{field: value})
    assert response.status_code == 400
    assert (response.json()["error"], response.json()["field"]) == ("invalid", field)
    assert SmsMessage.objects.count() == 0


# --- ION's documented examples, verbatim (ion-sms-gateway-api.txt) ----------------------
# The document's line breaks inside strings are its page layout, not part of the JSON.

DOC_UNIDES = {"emetteur": "ION-Networking", "destinataire": "+24106123456", "corps": "Bienvenue sur SMS Gateway !"}
DOC_MULDES = {
    "emetteur": "ION-Networking",
    "numeros": ["+24106123456", "+24107456789", "+24106234567"],
    "corps": "Profitez de nos offres exclusives SMS Gateway !",
}
DOC_MULDESP = {
    "emetteur": "ION-Networking",
    "numeros": ["+24106123456", "+24107456789"],
    "corps": "Campagne d'information SMS Gateway",
    "dateDebut": "2025-10-10",
    "dateFin": "2025-10-15",
    "nbParJour": 100,
    "intervalleMinutes": 15,
}
SENDER_TOO_LONG = {
    "error": "rejected",
    "message": "Invalid sender: sender too long (max 11 characters).",
    "field": "emetteur",
    "fields": {"emetteur": ["Invalid sender: sender too long (max 11 characters)."]},
}


def documented(client, path, body):
    """As the document's curl sends it: its header spelling, its JSON."""
    return client.client.post(path, body, format="json", headers={"X-API-Key": client.key})


@pytest.fixture
def october_2025(monkeypatch):
    """The document's campaign runs 10-15 October 2025: send it on 1 October 2025."""
    now = datetime(2025, 10, 1, 9, 30, tzinfo=UTC)
    monkeypatch.setattr(timezone, "now", lambda: now)
    return now


@pytest.mark.parametrize(
    ("path", "body"),
    [("/api/V1/sms/unides", DOC_UNIDES), ("/api/V1/sms/muldes", DOC_MULDES), ("/api/V1/sms/muldesp", DOC_MULDESP)],
)
def test_documented_example_sender_is_refused_for_its_14_characters_even_if_approved(owner, october_2025, path, body):
    SenderName.objects.create(tenant=owner.tenant, name="ION-Networking", status=SenderStatus.APPROVED)
    response = documented(owner, path, body)
    assert response.status_code == 400
    assert response.json() == SENDER_TOO_LONG
    assert SmsMessage.objects.count() == 0


def test_documented_unides_with_an_11_character_hyphenated_sender_answers_the_documented_shape(owner):
    SenderName.objects.create(tenant=owner.tenant, name="ION-Network", status=SenderStatus.APPROVED)
    response = documented(owner, "/api/V1/sms/unides", {**DOC_UNIDES, "emetteur": "ION-Network"})
    assert response.status_code == 201
    message = SmsMessage.objects.get()
    assert response.json() == {
        "ref": str(message.pk),
        "type": "UNIDES",
        "statut": "EN_ATTENTE",
        "cout": "1.00",
        "unite": "credits",
    }
    assert (message.sender, message.text) == ("ION-Network", "Bienvenue sur SMS Gateway !")
    assert list(SmsRecipient.objects.values_list("number", flat=True)) == ["+24106123456"]


def test_documented_muldes_with_an_11_character_hyphenated_sender_answers_the_documented_shape(owner):
    SenderName.objects.create(tenant=owner.tenant, name="ION-Network", status=SenderStatus.APPROVED)
    response = documented(owner, "/api/V1/sms/muldes", {**DOC_MULDES, "emetteur": "ION-Network"})
    assert response.status_code == 201
    message = SmsMessage.objects.get()
    assert response.json() == {
        "ref": str(message.pk),
        "type": "MULDES",
        "statut": "EN_ATTENTE",
        "cout": "3.00",
        "unite": "credits",
        "nbDestinataires": 3,
        "rejets": [],
    }
    assert sorted(SmsRecipient.objects.values_list("number", flat=True)) == sorted(DOC_MULDES["numeros"])


def test_documented_muldesp_answers_the_documented_shape_echoing_its_bare_dates(owner, october_2025):
    SenderName.objects.create(tenant=owner.tenant, name="ION-Network", status=SenderStatus.APPROVED)
    response = documented(owner, "/api/V1/sms/muldesp", {**DOC_MULDESP, "emetteur": "ION-Network"})
    assert response.status_code == 201
    message = SmsMessage.objects.get()
    assert response.json() == {
        "ref": str(message.pk),
        "type": "MULDESP",
        "statut": "EN_ATTENTE",
        "cout": "0.00",  # a campaign pays batch by batch
        "unite": "credits",
        "nbDestinataires": 2,
        "rejets": [],
        "dateDebut": "2025-10-10",
        "dateFin": "2025-10-15",
    }
    assert (message.kind, message.text, message.per_day, message.interval_minutes) == (
        SmsKind.CAMPAIGN,
        "Campagne d'information SMS Gateway",
        100,
        15,
    )
    # From the start of 10 October to the end of 15 October, in the tenant's zone (UTC).
    assert (message.window_start, message.window_end, message.next_batch_at) == (
        datetime(2025, 10, 10, tzinfo=UTC),
        datetime(2025, 10, 16, tzinfo=UTC),
        datetime(2025, 10, 10, tzinfo=UTC),
    )


def test_documented_muldesp_days_are_the_tenants_days(owner, october_2025):
    in_zone(owner.tenant, "Africa/Libreville")  # Gabon, where the example's numbers are: UTC+1
    SenderName.objects.create(tenant=owner.tenant, name="ION-Network", status=SenderStatus.APPROVED)
    response = documented(owner, "/api/V1/sms/muldesp", {**DOC_MULDESP, "emetteur": "ION-Network"})
    assert (response.json()["dateDebut"], response.json()["dateFin"]) == ("2025-10-10", "2025-10-15")
    message = SmsMessage.objects.get()
    assert (message.window_start, message.window_end) == (
        datetime(2025, 10, 9, 23, tzinfo=UTC),
        datetime(2025, 10, 15, 23, tzinfo=UTC),
    )


def test_documented_muldesp_sent_after_its_dates_is_400_naming_datefin(owner):
    response = documented(owner, "/api/V1/sms/muldesp", DOC_MULDESP)  # today is after 15 October 2025
    assert response.status_code == 400
    assert (response.json()["field"], response.json()["message"]) == ("dateFin", "dateFin: Must be in the future.")
    assert SmsMessage.objects.count() == 0


@pytest.mark.parametrize("emetteur", ["ION Network", "I.O.N_&-Co"])
def test_unides_emetteur_with_spaces_and_operator_punctuation_is_accepted(owner, emetteur):
    SenderName.objects.create(tenant=owner.tenant, name=emetteur, status=SenderStatus.APPROVED)
    response = unides(owner, emetteur=emetteur)
    assert response.status_code == 201
    assert SmsMessage.objects.get().sender == emetteur


@pytest.mark.parametrize(
    ("emetteur", "reason"),
    [
        ("Société", "only letters A-Z, a-z, digits 0-9, spaces and - _ . & are allowed"),
        ("123-456", "an alphanumeric sender needs at least one letter"),
        ("ABCDEFGHIJKL", "sender too long (max 11 characters)"),
    ],
)
def test_unides_malformed_emetteur_is_400_naming_emetteur_with_the_reason(owner, emetteur, reason):
    response = unides(owner, emetteur=emetteur)
    assert response.status_code == 400
    assert (response.json()["field"], response.json()["message"]) == ("emetteur", f"Invalid sender: {reason}.")
    assert SmsMessage.objects.count() == 0


# --- Unknown paths and wrong methods: ION's error body, never an HTML page --------------


@pytest.mark.parametrize("path", ["/api/V1/nope", "/api/V1/sms/unides/", "/api/V1/sms/x/y", "/api/V1/"])
@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_unknown_path_under_api_v1_is_ions_404(owner, path, method):
    response = getattr(owner.client, method)(path, headers={"X-API-Key": owner.key})
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": "not_found", "message": "No such path."}
    assert "Allow" not in response


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("delete", "/api/V1/sms/unides", "POST, OPTIONS"),
        ("get", "/api/V1/sms/muldes", "POST, OPTIONS"),
        ("put", "/api/V1/sms/muldesp", "POST, OPTIONS"),
        ("post", "/api/V1/sms/{ref}", "GET, HEAD, OPTIONS"),
        ("get", "/api/V1/sms/{ref}/annuler", "POST, OPTIONS"),
    ],
)
def test_wrong_method_on_an_ion_route_is_ions_405_with_allow(owner, method, path, allow):
    ref = unides(owner).json()["ref"]
    response = getattr(owner.client, method)(path.format(ref=ref), headers={"X-API-Key": owner.key})
    assert response.status_code == 405
    assert response["Allow"] == allow
    assert response.json() == {"error": "method_not_allowed", "message": f'Method "{method.upper()}" not allowed.'}
    assert SmsMessage.objects.get().state == SmsState.ACTIVE  # the one send, unchanged
    assert SmsMessage.objects.count() == 1


def test_wrong_method_without_a_key_is_401_first(owner):
    response = owner.client.delete("/api/V1/sms/unides")
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


def test_outsider_gets_the_same_405_on_the_owners_send_and_changes_nothing(owner, outsider):
    ref = muldes(owner, [TG, CI]).json()["ref"]
    response = outsider.client.delete(f"/api/V1/sms/{ref}/annuler", headers={"X-API-Key": outsider.key})
    assert (response.status_code, response["Allow"]) == (405, "POST, OPTIONS")
    assert SmsMessage.objects.get().state == SmsState.ACTIVE
    assert set(SmsRecipient.objects.values_list("status", flat=True)) == {DeliveryStatus.PENDING}
