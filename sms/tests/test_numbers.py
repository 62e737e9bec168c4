import phonenumbers
import pytest

from sms.numbers import (
    InvalidNumber,
    InvalidSender,
    calling_code,
    country_of,
    normalize_msisdn,
    validate_sender,
)

# --- normalize_msisdn -----------------------------------------------------------------------


def test_togo_national_format_with_region():
    assert normalize_msisdn("90 12 34 56", default_region="TG") == "+22890123456"


def test_international_format_needs_no_region():
    assert normalize_msisdn("+228 90-12-34-56", default_region=None) == "+22890123456"


def test_00_international_prefix_without_region():
    assert normalize_msisdn("0022890123456", default_region=None) == "+22890123456"


def test_00_international_prefix_where_the_region_dials_011():
    # phonenumbers alone would read "00..." as a national US number.
    assert normalize_msisdn("0022890123456", default_region="US") == "+22890123456"


def test_cote_d_ivoire_ten_digit_numbers_are_valid():
    assert normalize_msisdn("07 07 12 34 56", default_region="CI") == "+2250707123456"
    assert normalize_msisdn("+225 05 01 23 45 67", default_region=None) == "+2250501234567"
    assert normalize_msisdn("+2250107123456", default_region="TG") == "+2250107123456"


def test_cote_d_ivoire_old_eight_digit_numbers_are_refused():
    with pytest.raises(InvalidNumber, match=r"^not a valid number for region CI$"):
        normalize_msisdn("+225 07 12 34 56", default_region=None)


def test_invalid_length_is_refused():
    with pytest.raises(InvalidNumber) as exc:
        normalize_msisdn("90 12 34 5", default_region="TG")
    assert str(exc.value) == "not a valid number for region TG"


def test_possible_but_unassigned_number_is_refused():
    # Right length for Togo, but no operator uses the 10 prefix.
    with pytest.raises(InvalidNumber) as exc:
        normalize_msisdn("+228 10 12 34 56", default_region=None)
    assert str(exc.value) == "not a valid number for region TG"


def test_shared_calling_code_reason_names_the_code():
    with pytest.raises(InvalidNumber) as exc:
        normalize_msisdn("+1 000 000 0000", default_region=None)
    assert str(exc.value) == "not a valid number for country code +1"


def test_national_number_without_region_is_refused():
    with pytest.raises(InvalidNumber) as exc:
        normalize_msisdn("90 12 34 56", default_region=None)
    assert str(exc.value) == "no country code and no default region"


@pytest.mark.parametrize("raw", ["", "   ", "hello", "1-800-FLOWERS", "+22890123456 ext 12"])
def test_text_is_not_a_number(raw):
    with pytest.raises(InvalidNumber) as exc:
        normalize_msisdn(raw, default_region="TG")
    assert str(exc.value) == "not a number"


def test_unknown_calling_code_is_refused():
    with pytest.raises(InvalidNumber) as exc:
        normalize_msisdn("+999 1234 5678", default_region=None)
    assert str(exc.value) == "unknown country calling code"


def test_invalid_number_is_a_value_error():
    assert issubclass(InvalidNumber, ValueError)


# --- country_of / calling_code --------------------------------------------------------------


def test_country_of_togo_number():
    assert country_of("+22890123456") == "TG"


def test_country_of_shared_calling_code_is_the_precise_region():
    assert country_of("+14165550123") == "CA"


def test_calling_code_of_togo_number():
    assert calling_code("+22890123456") == "228"


def test_country_of_refuses_a_national_number():
    with pytest.raises(InvalidNumber):
        country_of("90123456")


def test_country_of_agrees_with_a_full_parse_for_every_calling_code():
    for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items():
        for region in regions:
            example = phonenumbers.example_number(region) if region != "001" else None
            if example is None:
                continue
            e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
            assert country_of(e164) == phonenumbers.region_code_for_number(example), (code, region, e164)


# --- validate_sender ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sender",
    ["SoftAfrik", "ABC", "Softafrik11", "2FA", "+22890123456", "1234", "Soft-Afrik", "Soft Afrik", "Soft_Afrik"],
)
def test_usable_senders_are_returned_unchanged(sender):
    assert validate_sender(sender) == sender


@pytest.mark.parametrize("sender", ["ION-Network", "A.B_C-D E&F", "M&M", "dot.com"])
def test_alphanumeric_sender_may_hold_spaces_and_the_punctuation_operators_accept(sender):
    assert validate_sender(sender) == sender


def test_alphanumeric_sender_too_short():
    with pytest.raises(InvalidSender) as exc:
        validate_sender("AB")
    assert str(exc.value) == "sender too short (min 3 characters)"


@pytest.mark.parametrize("sender", ["ABCDEFGHIJKL", "ION-Networking", "Société Générale"])
def test_alphanumeric_sender_too_long_is_told_the_limit_whatever_its_characters(sender):
    with pytest.raises(InvalidSender) as exc:
        validate_sender(sender)
    assert str(exc.value) == "sender too long (max 11 characters)"


@pytest.mark.parametrize("sender", ["Société", "Soft/Afrik", "Soft+Afrik", "Soft\tAfri", "Soft'Afrik", "+ABC"])
def test_alphanumeric_sender_with_other_characters_is_refused(sender):
    with pytest.raises(InvalidSender) as exc:
        validate_sender(sender)
    assert str(exc.value) == "only letters A-Z, a-z, digits 0-9, spaces and - _ . & are allowed"


@pytest.mark.parametrize("sender", [" Bank", "Bank ", "  Bank  "])
def test_alphanumeric_sender_with_a_space_at_either_end_is_refused(sender):
    with pytest.raises(InvalidSender) as exc:
        validate_sender(sender)
    assert str(exc.value) == "sender starts or ends with a space"


@pytest.mark.parametrize("sender", ["123-456", "12 34", "1.000", "-_.&"])
def test_alphanumeric_sender_without_a_letter_is_refused(sender):
    with pytest.raises(InvalidSender) as exc:
        validate_sender(sender)
    assert str(exc.value) == "an alphanumeric sender needs at least one letter"


# Every sender the four vendor documents show, and what it gets.
VENDOR_SENDERS_TOO_LONG = [
    "ION-Networking",  # ION: every example (14 characters)
    "SenderExample",  # Delevera push example (13)
    "dashboard.api",  # Delevera omni scenario examples (13)
    "Notification",  # Delevera omni message example (12)
]
VENDOR_SENDERS_USABLE = [
    "YourCompany",  # Primotexto: every example (11)
    "YOUR_SENDER",  # Primotexto: the GET form's placeholder (11)
    "hamarshi",  # Delevera omni scenario examples
    "someSender",  # Delevera omni scenario list
    "from",  # Delevera omni scenario list
    "Push",  # Delevera's default sender name
]


@pytest.mark.parametrize("sender", VENDOR_SENDERS_TOO_LONG)
def test_vendor_example_senders_over_11_characters_are_refused_for_their_length(sender):
    with pytest.raises(InvalidSender) as exc:
        validate_sender(sender)
    assert str(exc.value) == "sender too long (max 11 characters)"


@pytest.mark.parametrize("sender", VENDOR_SENDERS_USABLE)
def test_vendor_example_senders_within_11_characters_are_usable(sender):
    assert validate_sender(sender) == sender


def test_numeric_sender_over_15_digits_is_refused():
    with pytest.raises(InvalidSender) as exc:
        validate_sender("+1234567890123456")
    assert str(exc.value) == "numeric sender too long (max 15 digits)"


def test_numeric_sender_too_short():
    with pytest.raises(InvalidSender) as exc:
        validate_sender("12")
    assert str(exc.value) == "numeric sender too short (min 3 digits)"


def test_empty_sender_is_refused():
    with pytest.raises(InvalidSender):
        validate_sender("")
