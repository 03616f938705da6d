from django import forms
from django.utils.translation import gettext_lazy as _

from orders.models import Order
from orders.services import EDITABLE_FIELDS
from orders.states import PaymentMethod


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"), max_length=300, widget=forms.Textarea(attrs={"rows": 3})
    )


class DispatchForm(forms.Form):
    carrier = forms.CharField(label=_("Carrier"), max_length=60)
    tracking_number = forms.CharField(label=_("Tracking number"), max_length=64)
    urgent = forms.BooleanField(
        label=_("Urgent dispatch (upload the QC photo afterwards)"),
        required=False,
        help_text=_(
            "Only while the urgent-dispatch bypass is on, for a returning customer's order "
            "with at most 3 items; the photo is then owed."
        ),
    )


class QcPhotoForm(forms.Form):
    # A FileField checked by type and size: Pillow is not needed to accept a photo.
    photo = forms.FileField(
        label=_("QC photo"),
        widget=forms.ClearableFileInput(attrs={"accept": "image/*", "capture": "environment"}),
    )

    MAX_BYTES = 8 * 1024 * 1024
    ALLOWED = {"image/jpeg", "image/png", "image/webp", "image/heic"}

    def clean_photo(self):
        photo = self.cleaned_data["photo"]
        if photo.size > self.MAX_BYTES:
            raise forms.ValidationError(_("The photo is larger than 8 MB."))
        content_type = getattr(photo, "content_type", "")
        if content_type not in self.ALLOWED:
            raise forms.ValidationError(_("Upload a JPEG, PNG, WebP or HEIC photo."))
        return photo


class PaymentForm(forms.Form):
    amount = forms.DecimalField(
        label=_("Amount (CNY)"), max_digits=12, decimal_places=2, min_value=0.01
    )
    reference = forms.CharField(label=_("Payment reference"), max_length=100, required=False)
    paid_at = forms.DateTimeField(label=_("Paid at"), required=False)


class OrderChangeForm(forms.ModelForm):
    """The order page's edit form: only the editable details plus the version the
    editor saw, so a stale page cannot overwrite someone else's change."""

    version = forms.IntegerField(widget=forms.HiddenInput)

    class Meta:
        model = Order
        fields = EDITABLE_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance and self.instance.pk:
            self.fields["version"].initial = self.instance.version

    def clean_version(self):
        version = self.cleaned_data["version"]
        if self.instance.pk:
            current = (
                Order.objects.select_for_update()
                .filter(pk=self.instance.pk)
                .values_list("version", flat=True)
                .first()
            )
            if current != version:
                raise forms.ValidationError(
                    _("Someone else changed this order while you were editing. Reload the page.")
                )
        return version


class OrderCreateForm(forms.Form):
    """Back-office order entry (phone orders, corrections): fed to `order_create`."""

    customer = forms.ModelChoiceField(label=_("Customer"), queryset=None)
    payment_method = forms.ChoiceField(label=_("Payment method"), choices=PaymentMethod.choices)
    paid = forms.BooleanField(label=_("Already paid in full"), required=False)
    coupon = forms.ModelChoiceField(label=_("Coupon"), queryset=None, required=False)
    ship_name = forms.CharField(label=_("Recipient"), max_length=120)
    ship_phone = forms.CharField(label=_("Recipient phone"), max_length=32)
    ship_province = forms.CharField(label=_("Province"), max_length=60)
    ship_city = forms.CharField(label=_("City"), max_length=60)
    ship_district = forms.CharField(label=_("District"), max_length=60, required=False)
    ship_line1 = forms.CharField(label=_("Address"), max_length=200)
    invoice_title = forms.CharField(label=_("Invoice title"), max_length=120, required=False)
    invoice_tax_id = forms.CharField(label=_("Taxpayer ID"), max_length=40, required=False)
    notes = forms.CharField(
        label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    is_expedited = forms.BooleanField(label=_("Expedited"), required=False)

    def __init__(self, *args, admin_site=None, **kwargs):
        from django.contrib.admin.widgets import AutocompleteSelect

        from orders.models import Coupon, Customer

        super().__init__(*args, **kwargs)
        if admin_site is not None:
            self.fields["customer"].widget = AutocompleteSelect(
                Order._meta.get_field("customer"), admin_site
            )
        # Setting the queryset after the widget also gives the widget its choices.
        self.fields["customer"].queryset = Customer.objects.all()
        self.fields["coupon"].queryset = Coupon.objects.all()


class OrderLineEntryForm(forms.Form):
    product = forms.ModelChoiceField(label=_("Product"), queryset=None)
    quantity = forms.IntegerField(label=_("Quantity"), min_value=1, max_value=10_000)
    unit_price = forms.DecimalField(
        label=_("Unit price (blank: list price)"),
        max_digits=12,
        decimal_places=2,
        min_value=0,
        required=False,
    )

    def __init__(self, *args, admin_site=None, **kwargs):
        from django.contrib.admin.widgets import AutocompleteSelect

        from orders.models import OrderLine, Product

        super().__init__(*args, **kwargs)
        if admin_site is not None:
            self.fields["product"].widget = AutocompleteSelect(
                OrderLine._meta.get_field("product"), admin_site
            )
        self.fields["product"].queryset = Product.objects.filter(is_active=True)


OrderLineEntryFormSet = forms.formset_factory(
    OrderLineEntryForm, extra=3, min_num=1, validate_min=True, max_num=200, validate_max=True
)
