"""Buttons and modals: the "Log trade" button and form and a draft's "Save" and "Try it"
(``commands.discord.views``), and prev/next pages.

Listeners, not ``View`` objects: they match custom ids by their ``ibpicker:`` prefix, so a button
keeps working on a message posted by an earlier run of the bot (a persistent view without state).
"""

from __future__ import annotations

from typing import Any

from disnake.ext import commands
from disnake.interactions import MessageInteraction, ModalInteraction

from commands.discord import views
from commands.discord.errors import ExpiredError, ShuttingDownError, report
from commands.discord.frontend import FrontEnd
from commands.discord.render import NO_MENTIONS, parse_page_id, render_page


class Components(commands.Cog):
    """Answers ibpicker's buttons and modals."""

    def __init__(self, front: FrontEnd) -> None:
        """Serve the components for ``front``."""
        self.front = front

    @commands.Cog.listener("on_button_click")
    async def on_button_click(self, inter: MessageInteraction[Any]) -> None:
        """A "Log trade" button opens its form; a draft's or a strategy's "Backtest" button runs
        its command; a prev/next button turns the page."""
        custom_id = inter.component.custom_id or ""
        try:
            if views.is_log_trade(custom_id):
                await self._open_form(inter, custom_id)
            elif (
                action := views.draft_action(custom_id) or views.backtest_action(custom_id)
            ) is not None:
                command, options, slow = action
                await self.front.answer(inter, command, options, slow=slow)
            elif (page := parse_page_id(custom_id)) is not None:
                await self._turn_page(inter, *page)
        except Exception as exc:
            await report(inter, exc, what=f"button {custom_id}")

    async def _open_form(self, inter: MessageInteraction[Any], button: str) -> None:
        if not self.front.accepting:
            raise ShuttingDownError
        prefill = await self.front.prefill(button)
        title, custom_id, inputs = views.log_trade_form(button, prefill)
        await inter.response.send_modal(title=title, custom_id=custom_id, components=inputs)

    async def _turn_page(self, inter: MessageInteraction[Any], key: str, index: int) -> None:
        pages = self.front.pager.get(key)
        if pages is None or not 0 <= index < len(pages):
            raise ExpiredError
        out = render_page(pages, index, key=key, with_files=False)
        await inter.response.edit_message(
            embed=out.embed, components=out.components, allowed_mentions=NO_MENTIONS
        )

    @commands.Cog.listener("on_modal_submit")
    async def on_modal_submit(self, inter: ModalInteraction[Any]) -> None:
        """A submitted "Log trade" form opens the trade with the member's values."""
        button = views.button_id(inter.custom_id)
        if button is None:
            return
        try:
            prefill = await self.front.prefill(button)
            options = views.trade_options(button, prefill, inter.text_values)
            await self.front.answer(inter, "trade open", options, slow=False)
        except Exception as exc:
            await report(inter, exc, what="the Log trade form")
