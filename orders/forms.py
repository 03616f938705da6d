from django import forms
from django.utils.translation import gettext_lazy as _

from orders.models import Order
from orders.services import EDITABLE_FIELDS


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"), max_length=300, widget=forms.Textarea(attrs={"rows": 3})
    )


class DispatchForm(forms.Form):
    carrier = forms.CharField(label=_("Carrier"), max_length=60)
    tracking_number = forms.CharField(label=_("Tracking number"), max_length=64)


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
