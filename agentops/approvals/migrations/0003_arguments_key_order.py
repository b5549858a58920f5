"""Approvals' arguments as `json`, not `jsonb` (traces.fields.OrderedJSONField): the inbox shows them in
the order the agent sent them. Postgres casts jsonb to json by assignment, so the ALTERs need no USING;
requests stored before keep jsonb's order (by key length, then bytes)."""

import traces.fields
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('approvals', '0002_callback_secret_trace_index'),
    ]

    operations = [
        migrations.AlterField(
            model_name='approvaldecision',
            name='arguments',
            field=traces.fields.OrderedJSONField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='approvalrequest',
            name='arguments',
            field=traces.fields.OrderedJSONField(default=dict),
        ),
        migrations.AlterField(
            model_name='approvalrequest',
            name='final_arguments',
            field=traces.fields.OrderedJSONField(blank=True, null=True),
        ),
    ]
